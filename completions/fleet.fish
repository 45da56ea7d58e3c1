complete --keep-order --exclusive --command fleet --arguments "(COMPLETE=fish fleet -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
