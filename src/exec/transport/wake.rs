//! Wake-on-LAN: the magic packet (six 0xff bytes, then the MAC sixteen times) sent as a UDP
//! broadcast to port 9 of the host's LAN, as `wakeonlan` and `etherwake -b` send it.

use std::net::Ipv4Addr;

use crate::inventory::{names, Wake};

/// The port magic packets go to ("discard").
pub const PORT: u16 = 9;

/// The magic packet for `mac`.
pub fn magic_packet(mac: [u8; 6]) -> Vec<u8> {
    let mut packet = vec![0xff; 6];
    for _ in 0..16 {
        packet.extend_from_slice(&mac);
    }
    packet
}

/// Sends `wake`'s magic packet; says where it went.
pub async fn send(wake: &Wake) -> Result<String, String> {
    let mac = names::parse_mac(&wake.mac).ok_or_else(|| format!("bad MAC {}", wake.mac))?;
    let socket = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .map_err(|e| format!("opening a UDP socket: {e}"))?;
    socket
        .set_broadcast(true)
        .map_err(|e| format!("allowing broadcast: {e}"))?;
    socket
        .send_to(&magic_packet(mac), (wake.address, PORT))
        .await
        .map_err(|e| format!("sending to {}:{PORT}: {e}", wake.address))?;
    Ok(format!(
        "magic packet for {} sent to {}:{PORT}",
        wake.mac, wake.address
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_is_six_ff_then_the_mac_sixteen_times() {
        let mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        let p = magic_packet(mac);
        assert_eq!(p.len(), 102);
        assert_eq!(&p[..6], &[0xff; 6]);
        assert!(p[6..].chunks(6).all(|c| c == mac));
    }
}
