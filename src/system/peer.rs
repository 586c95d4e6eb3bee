//! Who is at the other end of a local connection.
//!
//! * Unix sockets: `SO_PEERCRED`.
//! * Loopback TCP: the kernel's socket tables, `/proc/self/net/tcp` and `/proc/self/net/tcp6`
//!   (<https://www.kernel.org/doc/Documentation/networking/proc_net_tcp.txt>). The client's
//!   socket is the row whose local address is our peer's and whose remote address is our
//!   own; its `uid` column is the user that made it. Addresses are hexadecimal, each 32-bit
//!   word in the host's byte order; ports are plain hexadecimal. An IPv4 client of a
//!   dual-stack socket appears in `tcp6` with an IPv4-mapped address.
//!
//! Only the network namespace of this process is searched: a peer in another namespace
//! (or on another host) is not found, and is nobody.
//!
//! The uid column is shown in this process's user namespace: in one that does not map the
//! client's user (systemd's `PrivateUsers=yes` maps only root and the unit's own user), it
//! reads as the overflow uid, nobody. Such a uid, one outside every range of
//! `/proc/self/uid_map`, is not an answer: the lookup fails, saying why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The uid owning the TCP client socket connected from `peer` to our `local` address, if it
/// is in this namespace's tables.
pub fn tcp_peer_uid(local: SocketAddr, peer: SocketAddr) -> std::io::Result<Option<u32>> {
    // Through /proc/self: the daemon's unit mounts /proc with ProcSubset=pid, which hides
    // /proc/net but keeps each process's own net directory (the same tables).
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            // No IPv6 in this kernel: no tcp6 table.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if let Some(uid) = find_uid(&text, peer, local) {
            let map = std::fs::read_to_string("/proc/self/uid_map")?;
            if !is_mapped(&map, uid) {
                return Err(std::io::Error::other(format!(
                    "the client's user shows as uid {uid}, which this process's user namespace \
                     does not map (PrivateUsers=yes?): its real user cannot be told"
                )));
            }
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

/// Whether `uid` lies in a range of a `/proc/PID/uid_map` (`INSIDE OUTSIDE COUNT` lines):
/// whether it stands for one user in that namespace rather than for every unmapped one.
pub fn is_mapped(uid_map: &str, uid: u32) -> bool {
    uid_map.lines().any(|line| {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                inside <= u64::from(uid) && u64::from(uid) < inside + count
            }
            _ => false,
        }
    })
}

/// The uid of the row of a `/proc/net/tcp{,6}` table with local address `local` and remote
/// address `remote`.
pub fn find_uid(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let (local, remote) = (canonical(local), canonical(remote));
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let row_local = parse_address(fields.next()?)?;
        let row_remote = parse_address(fields.next()?)?;
        // st, tx_queue:rx_queue, tr:tm->when, retrnsmt, then uid.
        let uid = fields.nth(4)?.parse().ok()?;
        (row_local == local && row_remote == remote).then_some(uid)
    })
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// `0100007F:1F90` (127.0.0.1:8080 on a little-endian host) or the 32-digit IPv6 form.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes)).to_canonical()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `addr` as the kernel prints it on this host.
    fn hex(addr: SocketAddr) -> String {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => format!("{:08X}", u32::from_ne_bytes(v4.octets())),
            IpAddr::V6(v6) => v6
                .octets()
                .chunks_exact(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        format!("{ip}:{:04X}", addr.port())
    }

    fn row(sl: u32, local: SocketAddr, remote: SocketAddr, uid: u32) -> String {
        format!(
            "{sl:4}: {} {} 01 00000000:00000000 00:00000000 00000000 {uid:5}        0 12345 1 0000000000000000 20 4 30 10 -1",
            hex(local),
            hex(remote)
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    #[test]
    fn the_client_row_gives_the_uid() {
        let server: SocketAddr = "127.0.0.1:12319".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let table = [
            HEADER.to_owned(),
            // The listener, then our own end of the connection (owned by the server's user).
            row(0, server, "0.0.0.0:0".parse().unwrap(), 1000),
            row(1, server, client, 1000),
            row(2, client, server, 65534),
        ]
        .join("\n");
        assert_eq!(find_uid(&table, client, server), Some(65534));
        assert_eq!(find_uid(&table, server, client), Some(1000));
        let elsewhere: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(find_uid(&table, elsewhere, server), None);
    }

    #[test]
    fn ipv4_mapped_rows_of_tcp6_match_ipv4_addresses() {
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let client: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        let server6: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        let table = [HEADER.to_owned(), row(0, client, server6, 42)].join("\n");
        assert_eq!(
            find_uid(&table, "127.0.0.1:40000".parse().unwrap(), server),
            Some(42)
        );
        let v6: SocketAddr = "[::1]:40000".parse().unwrap();
        let table = [
            HEADER.to_owned(),
            row(0, v6, "[::1]:80".parse().unwrap(), 7),
        ]
        .join("\n");
        assert_eq!(find_uid(&table, v6, "[::1]:80".parse().unwrap()), Some(7));
    }

    #[test]
    fn only_mapped_uids_are_users() {
        // The initial namespace maps everything.
        let all = "         0          0 4294967295\n";
        for uid in [0, 999, 65534, u32::MAX - 1] {
            assert!(is_mapped(all, uid), "{uid}");
        }
        // systemd's PrivateUsers=yes for a unit of user 998: root and 998 only; every other
        // user reads as the overflow uid 65534, which stands for nobody in particular.
        let private = "         0          0          1\n       998        998          1\n";
        assert!(is_mapped(private, 0) && is_mapped(private, 998));
        for uid in [1, 997, 999, 65534] {
            assert!(!is_mapped(private, uid), "{uid}");
        }
        for garbage in ["", "x y z", "0 0", "-1 0 5"] {
            assert!(!is_mapped(garbage, 0), "{garbage:?}");
        }
    }

    #[test]
    fn garbage_is_no_row() {
        let any: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for table in [
            "",
            "header only",
            "h\n0: zz:zz 0100007F:0001 01 a b c 5",
            "h\n0: 0100007F:0001",
            "h\n0: 0100007F:0001 0100007F:0001 01 a b c notanumber",
            "h\n0: 0100007F0:0001 0100007F:0001 01 a b c 5",
        ] {
            assert_eq!(find_uid(table, any, any), None, "{table:?}");
        }
    }

    /// The uid this process runs as (the owner of /proc/self).
    fn own_uid() -> u32 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").unwrap().uid()
    }

    /// Connects to a listener on `listen` (port 0) from `connect_to` (`None`: the listener's
    /// own address) and looks the client up from the server's end of the connection; the
    /// client's own end must not be taken for it.
    fn look_up_a_real_connection(listen: &str, connect_to: Option<&str>) -> Option<u32> {
        let listener = std::net::TcpListener::bind(listen).unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = match connect_to {
            Some(host) => SocketAddr::new(host.parse().unwrap(), port),
            None => listener.local_addr().unwrap(),
        };
        let client = std::net::TcpStream::connect(target).unwrap();
        let (server_side, peer) = listener.accept().unwrap();
        assert_eq!(canonical(peer), canonical(client.local_addr().unwrap()));
        let uid = tcp_peer_uid(server_side.local_addr().unwrap(), peer).unwrap();
        // A client that is not connected is nobody.
        let unknown = SocketAddr::new(peer.ip(), peer.port().wrapping_add(1).max(1));
        assert!(peer.is_ipv6() == listen.starts_with('['), "{peer}");
        assert_eq!(
            tcp_peer_uid(server_side.local_addr().unwrap(), unknown).unwrap(),
            None
        );
        drop(client);
        uid
    }

    #[test]
    fn this_process_is_found_in_the_real_tables_on_ipv4_loopback() {
        assert_eq!(
            look_up_a_real_connection("127.0.0.1:0", None),
            Some(own_uid())
        );
    }

    #[test]
    fn this_process_is_found_in_the_real_tables_on_ipv6_loopback() {
        assert_eq!(look_up_a_real_connection("[::1]:0", None), Some(own_uid()));
    }

    #[test]
    fn an_ipv4_client_of_a_dual_stack_listener_is_found() {
        // Linux listens on both families on [::] unless bindv6only is set; the client then
        // shows in tcp6 with an IPv4-mapped address.
        let probe = std::net::TcpListener::bind("[::]:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            eprintln!("[::] does not take IPv4 here (bindv6only); skipping");
            return;
        }
        drop(probe);
        assert_eq!(
            look_up_a_real_connection("[::]:0", Some("127.0.0.1")),
            Some(own_uid())
        );
    }
}
