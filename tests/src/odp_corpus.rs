//! Datapath flows of every kind the userspace datapath's poll threads
//! extract (IPv4 with each L4 protocol, ARP, IPv6 with UDP and with a
//! neighbour solicitation, MPLS, a bare Ethernet type, a VLAN tag), in
//! `ovs-dpctl` text: the shared corpus of the tests that compare a miss's
//! direct datapath mask with the netlink route (`dpif`'s `odp_key` and
//! `ofproto`'s `xlate::upcall`).

pub const FLOWS: &[&str] = &[
    "in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
     ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0x3,ttl=64,frag=no),udp(src=1000,dst=80)",
    "in_port(2),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
     ipv4(src=10.1.0.1,dst=10.0.0.2,proto=6,tos=0x12,ttl=3,frag=no),tcp(src=5,dst=443)",
    "in_port(3),eth(src=02:00:00:00:00:03,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),\
     arp(sip=10.0.0.1,tip=10.0.0.9,op=1,sha=02:00:00:00:00:03,tha=00:00:00:00:00:00)",
    "in_port(4),eth(src=02:00:00:00:00:04,dst=02:00:00:00:00:05),eth_type(0x86dd),\
     ipv6(src=2001:db8::1,dst=2001:db8::2,label=0,proto=17,tclass=0,hlimit=64,frag=no),\
     udp(src=7,dst=9)",
    "in_port(5),eth(src=02:00:00:00:00:06,dst=02:00:00:00:00:07),eth_type(0x0800),\
     ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)",
    "in_port(6),eth(src=02:00:00:00:00:06,dst=02:00:00:00:00:07),eth_type(0x0800),\
     ipv4(src=10.0.0.1,dst=10.0.0.2,proto=132,tos=0,ttl=64,frag=no),sctp(src=1,dst=2)",
    "in_port(7),eth(src=02:00:00:00:00:06,dst=02:00:00:00:00:07),eth_type(0x86dd),\
     ipv6(src=fe80::1,dst=ff02::1,label=0,proto=58,tclass=0,hlimit=255,frag=no),\
     icmpv6(type=135,code=0),nd(target=fe80::2,sll=02:00:00:00:00:06)",
    "in_port(8),eth(src=02:00:00:00:00:08,dst=02:00:00:00:00:09),eth_type(0x8847),\
     mpls(label=100,tc=0,ttl=64,bos=1)",
    "in_port(9),eth(src=02:00:00:00:00:08,dst=02:00:00:00:00:09),eth_type(0x1234)",
    "in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x8100),\
     vlan(vid=5,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,\
     tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
];

/// Whether a flow of [`FLOWS`] carries a VLAN tag.
pub fn tagged(flow: &str) -> bool {
    flow.contains("vlan(")
}

/// Whether a flow of [`FLOWS`] is IPv6.
pub fn ipv6(flow: &str) -> bool {
    flow.contains("ipv6(")
}
