f=$1; ticks=$(($2 * 20)); i=0
while [ ! -s "$f" ]; do
  if [ -n "${3:-}" ] && [ ! -e "$3" ]; then echo "fleet: nothing was started here ($3 is missing)" >&2; exit 3; fi
  if [ "$i" -ge "$ticks" ]; then echo "fleet: gave up waiting for $f after $2 s" >&2; exit 2; fi
  sleep 0.05; i=$((i + 1))
done
cat "$f"
