//! Differential test of translation: stock ovs-vswitchd and
//! ferrovs-vswitchd, both on the dummy datapath with the same bridge and
//! ports, get the same OpenFlow pipelines (ovs-ofctl add-flows) and the
//! same `ovs-appctl ofproto/trace` requests. The `Megaflow:` and
//! `Datapath actions:` lines must be the same for every case, except the
//! known gaps listed in `KNOWN_GAPS` with their reason (which must still
//! differ, so that the list stays true); the whole report is compared as
//! well and the number of cases that match in full is printed.

use std::collections::BTreeMap;
use std::path::Path;

use ferrovs_tests::sandbox::{text, Sandbox};

mod trace_corpus;
use trace_corpus::{compare, Pipeline};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");

const CORPUS: &[Pipeline] = &[
    Pipeline {
        name: "single-table",
        version: "OpenFlow10",
        flows: "in_port=1,actions=output:2
                in_port=2,actions=output:1
                in_port=3,actions=output:LOCAL
                in_port=4,actions=IN_PORT",
        traces: &[
            "in_port=1",
            "in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80",
            "in_port=2,udp,nw_dst=1.2.3.4,udp_src=53",
            // Stock reads tp_src as tcp_src: an error for UDP.
            "in_port=2,udp,nw_dst=1.2.3.4,tp_src=53",
            "in_port=1,nosuchfield=1",
            "in_port=3,arp,arp_spa=10.0.0.1",
            "in_port=4,ip",
            "in_port=LOCAL,ip",
            "ODP:in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1000,dst=80)",
            "ARGS:dummy in_port(3),eth(src=00:00:00:00:00:03,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=1.1.1.1,tip=1.1.1.2,op=1,sha=00:00:00:00:00:03,tha=00:00:00:00:00:00)",
            "ARGS:dummy in_port(3),eth_type(0x0806)",
            // Stock takes a datapath name, not a bridge, before a datapath
            // flow; and knows no bridge "nobr".
            "ARGS:br0 in_port(3),eth_type(0x0806)",
            "ARGS:nobr in_port=1",
            "ARGS:ovs-nosuchdp in_port(1)",
            "ODP:in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x8100),vlan(vid=7,pcp=1),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
        ],
    },
    Pipeline {
        name: "resubmit-chain",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=resubmit(,1)
                table=0,in_port=2,actions=resubmit:3
                table=0,in_port=3,actions=output:4
                table=1,ip,actions=resubmit(,2)
                table=1,priority=0,actions=output:3
                table=2,tcp,tp_dst=80,actions=output:2,resubmit(,3)
                table=2,priority=0,actions=output:4
                table=3,actions=output:3",
        traces: &[
            "in_port=1,tcp,tp_dst=80",
            "in_port=1,tcp,tp_dst=22",
            "in_port=1,arp",
            "in_port=2,ip",
            "in_port=4",
        ],
    },
    Pipeline {
        name: "goto-table",
        version: "OpenFlow13",
        flows: "table=0,ip,actions=goto_table:1
                table=0,priority=0,actions=drop
                table=1,ip,nw_src=10.0.0.0/8,actions=write_metadata:0x5/0xff,goto_table:2
                table=1,priority=0,actions=output:4
                table=2,metadata=0x5/0xff,actions=output:2
                table=2,priority=0,actions=output:3",
        traces: &[
            "in_port=1,ip,nw_src=10.1.2.3",
            "in_port=1,ip,nw_src=11.1.2.3",
            "in_port=1,arp",
        ],
    },
    Pipeline {
        name: "acl",
        version: "OpenFlow10",
        flows: "priority=100,tcp,nw_src=10.0.0.1,tp_dst=22,actions=drop
                priority=90,tcp,tp_dst=22,actions=output:2
                priority=80,udp,nw_dst=192.168.0.0/16,actions=output:3
                priority=70,dl_src=00:00:00:00:00:01,actions=output:4
                priority=60,arp,actions=output:1
                priority=50,icmp,icmp_type=8,actions=output:2
                priority=1,actions=drop",
        traces: &[
            "in_port=1,tcp,nw_src=10.0.0.1,tp_dst=22",
            "in_port=1,tcp,nw_src=10.0.0.2,tp_dst=22",
            "in_port=1,tcp,nw_src=10.0.0.2,tp_dst=80",
            "in_port=1,udp,nw_dst=192.168.7.7,udp_dst=53",
            "in_port=1,udp,nw_dst=192.169.7.7,udp_dst=53",
            "in_port=2,dl_src=00:00:00:00:00:01,ip",
            "in_port=2,arp,arp_op=1",
            "in_port=2,icmp,icmp_type=8",
            "in_port=2,icmp,icmp_type=0",
            "in_port=3,udp,udp_src=1,udp_dst=2",
        ],
    },
    Pipeline {
        name: "rewrite",
        version: "OpenFlow10",
        flows: "in_port=1,ip,actions=mod_nw_dst:10.9.9.9,dec_ttl,output:2
                in_port=2,tcp,actions=mod_tp_dst:8080,mod_dl_src:00:00:00:aa:bb:cc,output:3
                in_port=3,ip,actions=mod_nw_tos:16,mod_nw_src:1.1.1.1,output:1
                in_port=4,ip,actions=dec_ttl,output:1",
        traces: &[
            "in_port=1,tcp,nw_dst=10.0.0.1,nw_ttl=64",
            "in_port=2,tcp,tp_dst=80",
            "in_port=3,udp,nw_tos=4",
            "in_port=4,ip,nw_ttl=10",
        ],
    },
    Pipeline {
        name: "set-field-of13",
        version: "OpenFlow13",
        flows: "in_port=1,ip,actions=set_field:10.9.9.9->ip_dst,set_field:00:00:00:00:00:09->eth_dst,output:2
                in_port=2,udp,actions=set_field:99->udp_src,output:1
                in_port=3,ip,actions=set_field:10.0.0.1->ip_src,output:1",
        traces: &[
            "in_port=1,ip,nw_dst=10.0.0.1",
            "in_port=2,udp,udp_src=1",
            "in_port=3,tcp,nw_src=10.0.0.1",
            "in_port=3,ip",
        ],
    },
    Pipeline {
        name: "set-field-other-headers",
        version: "OpenFlow13",
        flows: "in_port=1,ipv6,actions=set_field:fe80::1->ipv6_src,set_field:5->nw_ttl,output:2
                in_port=2,arp,actions=set_field:1.1.1.1->arp_spa,set_field:2->arp_op,output:1
                in_port=3,icmp,actions=set_field:0->icmp_type,set_field:0x5->pkt_mark,output:1
                in_port=4,icmp6,actions=set_field:129->icmpv6_type,output:1",
        traces: &[
            "in_port=1,tcp6,ipv6_src=2001:db8::1,nw_ttl=64",
            "in_port=1,ipv6",
            "in_port=2,arp,arp_op=1,arp_spa=10.0.0.1",
            "in_port=3,icmp,icmp_type=8",
            "in_port=4,icmp6,icmpv6_type=128",
            "in_port=4,icmp6,icmp_type=128",
        ],
    },
    Pipeline {
        name: "vlan",
        version: "OpenFlow13",
        flows: "in_port=1,vlan_tci=0x0000/0x1000,actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:2
                in_port=2,dl_vlan=10,actions=pop_vlan,output:1
                in_port=3,actions=push_vlan:0x8100,set_field:4107->vlan_vid,output:4",
        traces: &[
            "in_port=1,ip",
            "in_port=2,dl_vlan=10,ip",
            "in_port=2,dl_vlan=11,ip",
            "in_port=3,dl_vlan=5,ip",
        ],
    },
    Pipeline {
        name: "vlan-of10",
        version: "OpenFlow10",
        flows: "in_port=1,actions=mod_vlan_vid:20,output:2
                in_port=2,actions=strip_vlan,output:1",
        traces: &["in_port=1,ip", "in_port=2,dl_vlan=20,ip", "in_port=2,ip"],
    },
    Pipeline {
        name: "registers",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=load:0x5->NXM_NX_REG0[],move:NXM_OF_ETH_SRC[0..15]->NXM_NX_REG1[0..15],resubmit(,1)
                table=1,reg0=5,reg1=0x1234,actions=output:2
                table=1,reg0=5,actions=output:3
                table=1,priority=0,actions=drop",
        traces: &[
            "in_port=1,dl_src=00:00:00:00:12:34",
            "in_port=1,dl_src=00:00:00:00:12:35",
            "in_port=2",
        ],
    },
    Pipeline {
        name: "drop-and-miss",
        version: "OpenFlow10",
        flows: "in_port=1,actions=drop
                table=1,in_port=2,actions=output:1",
        traces: &["in_port=1,ip", "in_port=2,ip", "in_port=3"],
    },
    Pipeline {
        name: "controller",
        version: "OpenFlow10",
        flows: "in_port=1,actions=controller
                in_port=2,actions=output:1,note:01.02,controller:100
                cookie=0x77,in_port=3,actions=dec_ttl,output:1
                in_port=4,actions=resubmit(,1),output:2
                table=1,actions=dec_ttl,output:3",
        traces: &[
            "in_port=1",
            "in_port=2,ip",
            "in_port=3,ip,nw_ttl=1",
            "in_port=3,tcp,nw_ttl=9",
            "in_port=4,ip,nw_ttl=1",
        ],
    },
    Pipeline {
        // Compared whole (see `trace_corpus::compare`): a pause's report.
        name: "controller-pause-whole",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=set_field:0x5->reg1,controller(pause),output:2
                table=0,in_port=2,actions=push:NXM_NX_REG0[],controller(pause,userdata=01.02),pop:NXM_NX_REG2[],resubmit(,1)
                table=0,in_port=3,actions=resubmit(,1),output:4
                table=0,in_port=4,actions=controller(pause,max_len=128,reason=no_match),output:1
                table=0,in_port=5,actions=controller(userdata=0a.0b.0c,max_len=64),output:1
                table=1,actions=output:3,controller(pause,id=7),mod_nw_src:10.1.1.1,output:4",
        traces: &[
            "in_port=1,ip",
            "in_port=2,tcp",
            "in_port=3,udp",
            "in_port=4,ip",
            "in_port=5,ip",
        ],
    },
    Pipeline {
        name: "of13-miss-and-metadata",
        version: "OpenFlow13",
        flows: "table=0,ip,actions=write_metadata:0x10/0xf0,goto_table:1
                table=0,arp,actions=goto_table:2
                table=1,metadata=0x10/0xf0,tcp,actions=output:2
                table=1,priority=0,actions=set_field:0x5->reg3,goto_table:3
                table=3,reg3=5,actions=output:4",
        traces: &["in_port=1,tcp", "in_port=1,udp", "in_port=1,arp"],
    },
    Pipeline {
        name: "action-set",
        version: "OpenFlow13",
        flows: "table=0,in_port=1,actions=write_actions(set_field:00:00:00:00:00:07->eth_dst,output:3),goto_table:1
                table=1,in_port=1,actions=output:2,clear_actions
                table=0,in_port=2,actions=write_actions(output:3),goto_table:2
                table=2,in_port=2,actions=write_actions(output:1)
                table=0,in_port=3,ip,actions=write_actions(dec_ttl,set_field:10.0.0.9->ip_dst,output:4),goto_table:3
                table=3,ip,actions=clear_actions,write_actions(set_field:10.0.0.8->ip_dst),goto_table:5
                table=5,actions=write_actions(output:1)
                table=0,in_port=4,actions=write_actions(set_field:5->reg0),goto_table:4",
        traces: &[
            "in_port=1",
            "in_port=2",
            "in_port=3,tcp,nw_ttl=9",
            "in_port=4",
        ],
    },
    Pipeline {
        name: "moves-and-loads",
        version: "OpenFlow10",
        flows: "in_port=1,ip,actions=move:NXM_OF_IP_SRC[]->NXM_OF_IP_DST[],load:0xa->NXM_OF_IP_TOS[2..7],output:2
                in_port=2,actions=load:0x0000000000aa->NXM_OF_ETH_DST[],move:NXM_OF_ETH_DST[0..7]->NXM_NX_REG2[8..15],resubmit(,1)
                table=1,reg2=0xaa00,actions=mod_tp_src:9,output:3
                in_port=3,tcp,actions=set_field:7->tcp_dst,mod_nw_ecn:2,output:4
                in_port=4,actions=resubmit(2,1),output:9",
        traces: &[
            "in_port=1,udp,nw_src=1.2.3.4,nw_dst=5.6.7.8",
            "in_port=2,tcp,tp_src=5",
            "in_port=2,arp",
            "in_port=3,tcp,nw_tos=4,tp_dst=1",
            "in_port=4,ip",
        ],
    },
    Pipeline {
        name: "resubmit-loop",
        version: "OpenFlow10",
        flows: "in_port=1,actions=resubmit(,0)
                in_port=2,actions=resubmit(,1),output:1
                table=1,actions=resubmit(,2)
                table=2,actions=output:3",
        traces: &["in_port=1", "in_port=2"],
    },
    Pipeline {
        name: "normal",
        version: "OpenFlow10",
        flows: "priority=0,actions=NORMAL
                in_port=4,actions=FLOOD
                in_port=3,actions=ALL",
        traces: &[
            "in_port=1,ip",
            "in_port=2,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1",
            "in_port=2,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2",
            "in_port=2,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=2",
            "in_port=LOCAL,dl_vlan=7,dl_dst=00:00:00:00:00:98,ip",
            "in_port=1,dl_vlan=7,dl_dst=00:00:00:00:00:98,ip",
            "in_port=2,dl_vlan=5,tcp",
            "in_port=LOCAL,dl_src=00:00:00:00:00:05,dl_dst=01:80:c2:00:00:00",
            "in_port=4,udp",
            "in_port=3,udp",
        ],
    },
    Pipeline {
        name: "conntrack",
        version: "OpenFlow13",
        flows: "table=0,in_port=1,ip,actions=ct(commit,zone=5,exec(set_field:0x1->ct_mark),table=1)
                table=0,in_port=2,tcp,actions=ct(zone=5,nat,table=1)
                table=0,in_port=3,tcp,actions=ct(commit,zone=NXM_NX_REG0[0..15],nat(src=10.0.0.1-10.0.0.9:80-90,random),exec(set_field:0x5/0xff->ct_label)),output:4
                table=0,in_port=4,udp,actions=ct_clear,ct(table=2),output:1
                table=0,in_port=4,tcp,actions=set_field:10.1.1.1->ip_dst,ct(commit,nat(dst=10.2.2.2:8080),table=1),output:1
                table=0,in_port=4,icmp,actions=ct(commit,force,zone=7,exec(set_field:0x3->ct_mark,set_field:0x10/0xf0->ct_label))
                table=0,priority=40000,in_port=1,tcp,tcp_dst=21,actions=ct(commit,alg=ftp)
                table=1,ct_state=+trk+new,actions=output:2
                table=1,ct_state=+trk+est,ct_mark=1,actions=output:1
                table=1,ip,ct_state=+trk,ct_zone=5,actions=ct_clear,output:3
                table=1,priority=0,actions=drop
                table=2,ip,ct_state=+trk,actions=ct(commit,table=3)
                table=3,ct_state=+trk,actions=ct_clear,output:3",
        traces: &[
            "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_dst=80",
            "in_port=2,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_dst=80",
            "in_port=3,tcp,reg0=7,nw_src=10.0.0.1,tcp_dst=80",
            "in_port=4,udp",
            "in_port=4,tcp,nw_src=10.0.0.1,tcp_src=5,tcp_dst=80",
            "in_port=4,icmp",
            "in_port=2,udp",
            "in_port=1,tcp,tcp_dst=21",
            "ARGS:--ct-next trk,est br0 in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_dst=80",
            "ARGS:br0 in_port=4,udp --ct-next trk,new --ct-next trk,est,rpl",
            "ARGS:--ct-next new,est,inv br0 in_port=1,tcp",
            "ARGS:--ct-next nosuch br0 in_port=1,tcp",
        ],
    },
    Pipeline {
        name: "groups-and-clone",
        version: "OpenFlow13",
        flows: "GROUP group_id=1,type=select,bucket=weight:1,output:2,bucket=weight:1,output:3
                GROUP group_id=2,type=all,bucket=output:2,bucket=set_field:5->reg0,output:3
                GROUP group_id=3,type=indirect,bucket=output:4
                GROUP group_id=4,type=ff,bucket=watch_port:9,output:2,bucket=watch_port:3,output:3
                GROUP group_id=5,type=select,bucket=weight:3,set_field:1.1.1.1->ip_dst,output:2,bucket=weight:1,output:4
                table=0,in_port=1,actions=load:0x7->NXM_NX_REG1[],group:1,output:4
                table=0,in_port=2,actions=group:2,resubmit(,1)
                table=0,in_port=3,actions=group:3,group:4
                table=0,in_port=4,ip,actions=clone(set_field:1.1.1.1->ip_src,output:1),output:2
                table=0,priority=40000,in_port=4,udp,actions=resubmit(,2),output:3
                table=0,in_port=4,tcp,actions=clone(ct(commit),output:1),output:2
                table=1,actions=output:1
                table=2,actions=group:5,write_actions(output:1),goto_table:3
                table=3,actions=output:2",
        traces: &[
            "in_port=1,tcp",
            "in_port=2,tcp",
            "in_port=3,tcp",
            "in_port=4,icmp",
            "in_port=4,udp",
            "in_port=4,tcp",
        ],
    },
    Pipeline {
        name: "learn-and-sample",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=learn(table=1,hard_timeout=60,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,1)
                table=0,in_port=2,ip,actions=learn(table=2,idle_timeout=10,priority=100,cookie=0x55,send_flow_rem,eth_type=0x800,NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],load:0x1->NXM_NX_REG0[0..3],load:NXM_OF_IN_PORT[]->NXM_NX_REG1[0..15],output:NXM_OF_IN_PORT[]),output:3
                table=0,in_port=3,actions=learn(table=1,NXM_OF_ETH_SRC[]=00:00:00:00:00:05,NXM_NX_REG3[0..7]=0x7),output:4
                table=0,in_port=4,actions=note:01.02.03,sample(probability=65535,collector_set_id=1,obs_domain_id=2,obs_point_id=3),output:2
                table=1,priority=0,actions=output:2",
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:07,dl_vlan=5",
            "in_port=2,tcp,nw_src=10.0.0.7",
            "in_port=3,tcp",
            "in_port=4,udp",
        ],
    },
    Pipeline {
        name: "mpls",
        version: "OpenFlow13",
        flows: "table=0,in_port=1,ip,actions=push_mpls:0x8847,output:3
                table=0,in_port=2,ipv6,actions=push_mpls:0x8848,set_mpls_tc:5,output:3
                table=0,in_port=3,mpls,actions=pop_mpls:0x0800,output:4
                table=0,in_port=3,mpls,mpls_label=7,actions=set_field:9->mpls_label,dec_mpls_ttl,output:1
                table=0,in_port=4,ip,actions=push_mpls:0x8847,set_field:10->mpls_label,dec_mpls_ttl,output:1,pop_mpls:0x0800,output:2",
        traces: &[
            "in_port=1,tcp,nw_ttl=64,nw_tos=0xa0",
            "in_port=1,arp",
            "in_port=2,ipv6,nw_ttl=9",
            "in_port=3,mpls,mpls_label=5,mpls_ttl=9,mpls_bos=1",
            "in_port=3,mpls,mpls_label=7,mpls_ttl=9,mpls_bos=1",
            "in_port=3,mpls,mpls_label=7,mpls_ttl=1,mpls_bos=1",
            "in_port=4,udp,nw_ttl=3",
            "in_port=4,udp,nw_ttl=1",
        ],
    },
    Pipeline {
        name: "multipath-and-bundle",
        version: "OpenFlow10",
        flows: "table=0,in_port=1,actions=multipath(symmetric_l4,50,modulo_n,1024,0,NXM_NX_REG0[0..9]),resubmit(,1)
                table=0,in_port=2,actions=multipath(eth_src,0,hrw,8,0,NXM_NX_REG0[]),multipath(symmetric_l3l4+udp,7,hash_threshold,3,0,NXM_NX_REG1[0..1]),multipath(nw_dst,1,iter_hash,6,8,NXM_NX_REG2[0..2]),resubmit(,1)
                table=0,in_port=3,actions=bundle(symmetric_l4,60,hrw,ofport,members:1,2,4)
                table=0,in_port=4,actions=bundle_load(eth_src,0,hrw,ofport,NXM_NX_REG3[],members:1,2,3,9),bundle(eth_src,0,active_backup,ofport,members:9,2,1),multipath(symmetric_l3,0,modulo_n,3,0,NXM_NX_REG4[0..3]),multipath(symmetric_l3l4,0,modulo_n,5,0,NXM_NX_REG5[0..3]),resubmit(,1)
                table=1,actions=output:3",
        traces: &[
            "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_src=1234,tcp_dst=80,dl_src=00:00:00:00:00:01",
            "in_port=1,udp,nw_src=10.0.0.3,udp_src=99,dl_dst=00:00:00:00:00:05",
            "in_port=1,arp",
            "in_port=2,udp,dl_src=00:11:22:33:44:55,nw_dst=1.2.3.4,udp_src=5,udp_dst=6",
            "in_port=2,ipv6,ipv6_dst=2001::1",
            "in_port=3,tcp,tcp_src=7,nw_src=9.9.9.9",
            "in_port=3,tcp,tcp_src=8,nw_src=9.9.9.9",
            "in_port=3,icmp,dl_src=00:00:00:00:00:09",
            "in_port=4,tcp,dl_src=00:00:00:00:00:aa,nw_src=1.1.1.1,tcp_dst=22",
            "in_port=4,ipv6,ipv6_src=::1,nw_proto=6,tcp_dst=4",
            "in_port=4,arp",
        ],
    },
    Pipeline {
        name: "meters",
        version: "OpenFlow13",
        flows: "METER meter=1,kbps,band=type=drop,rate=1000
                METER meter=5,pktps,burst,band=type=drop,rate=10,burst_size=5
                in_port=1,actions=meter:5,output:2
                in_port=2,actions=meter:1,output:1
                in_port=3,actions=meter:1,goto_table:1
                table=1,actions=meter:5,output:4",
        traces: &["in_port=1", "in_port=2,tcp", "in_port=3,ip"],
    },
    Pipeline {
        name: "conjunction",
        version: "OpenFlow10",
        flows: "priority=100,ip,nw_src=10.0.0.1,actions=conjunction(7,1/2)
                priority=100,ip,nw_src=10.0.0.2,actions=conjunction(7,1/2)
                priority=100,tcp,tp_dst=80,actions=conjunction(7,2/2)
                priority=100,tcp,tp_dst=443,actions=conjunction(7,2/2)
                priority=100,conj_id=7,ip,actions=output:2
                priority=200,in_port=4,tcp,tp_dst=80,actions=conjunction(9,1/3),conjunction(7,2/2)
                priority=200,in_port=4,nw_dst=10.9.9.9,actions=conjunction(9,2/3)
                priority=200,in_port=4,ip,nw_tos=32,actions=conjunction(9,3/3)
                priority=200,conj_id=9,actions=output:1
                priority=10,ip,actions=output:3",
        traces: &[
            "in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80",
            "in_port=1,tcp,nw_src=10.0.0.1,tp_dst=22",
            "in_port=1,udp,nw_src=10.0.0.2",
            "in_port=1,tcp,nw_src=10.0.0.2,tp_dst=443",
            "in_port=1,tcp,nw_src=10.0.0.3,tp_dst=443",
            "in_port=1,arp",
            "in_port=4,tcp,nw_dst=10.9.9.9,nw_tos=32,tp_dst=80",
            "in_port=4,tcp,nw_dst=10.9.9.9,nw_tos=0,tp_dst=80,nw_src=10.0.0.1",
        ],
    },
    Pipeline {
        name: "output-reg-whole",
        version: "OpenFlow10",
        flows: "in_port=1,actions=load:0x2->NXM_NX_REG0[0..15],output:NXM_NX_REG0[0..15]
                in_port=2,actions=load:0x3->NXM_NX_REG1[16..31],output:NXM_NX_REG1[16..31],output:NXM_NX_REG2[]
                in_port=3,actions=load:0x10000->NXM_NX_REG3[],output:NXM_NX_REG3[]
                in_port=4,actions=output:NXM_NX_REG4[0..15],output:NXM_OF_VLAN_TCI[0..11]",
        traces: &[
            "in_port=1",
            "in_port=2,reg2=1",
            "in_port=3",
            "in_port=4,reg4=0xfffe",
            "in_port=4,reg4=0xfff8,dl_vlan=3",
            "in_port=4,reg4=0x12345",
        ],
    },
    Pipeline {
        name: "output-trunc-metadata-dec-ttl-ids-whole",
        version: "OpenFlow10",
        flows: "in_port=1,actions=output(port=2,max_len=100)
                in_port=2,actions=mod_dl_src:00:00:00:00:00:0a,output(port=3,max_len=64),output:4
                in_port=3,actions=output(port=3,max_len=100),output(port=LOCAL,max_len=60),output(port=IN_PORT,max_len=70),output(port=9,max_len=80)
                in_port=4,ip,actions=output:3,write_metadata:0x5/0xff
                in_port=4,arp,actions=output:2,write_metadata:0
                priority=40000,in_port=4,udp,actions=dec_ttl(1,2),output:2",
        traces: &[
            "in_port=1",
            "in_port=2",
            "in_port=3",
            "in_port=4,ip",
            "in_port=4,arp",
            "in_port=4,udp,nw_ttl=1",
            "in_port=4,udp,nw_ttl=9",
        ],
    },
];

/// NORMAL with VLAN ports and a MAC table taught by real packets: the
/// Port settings (`ovs-vsctl set port ...`) for p1..p4 (other ports
/// become plain trunks again), Bridge settings, the packets received
/// (`netdev-dummy/receive`, in order, each awaited until its source is
/// in the table), then the flows and traces as in `CORPUS`. `fdb/show`
/// (ages left out) and `fdb/stats-show` are compared too.
struct L2Case {
    name: &'static str,
    ports: &'static [(&'static str, &'static [&'static str])],
    bridge: &'static [&'static str],
    /// (port name, its OpenFlow port number, datapath flow); number 0:
    /// a packet that teaches nothing (it gets half a second).
    receive: &'static [(&'static str, u32, &'static str)],
    /// `ovs-appctl` commands (space-separated) run after the packets.
    fdb: &'static [&'static str],
    flows: &'static str,
    traces: &'static [&'static str],
}

const L2_CORPUS: &[L2Case] = &[
    L2Case {
        name: "normal-vlans",
        ports: &[
            ("p1", &["tag=10"]),
            ("p2", &["tag=20"]),
            ("p3", &["trunks=10,20"]),
            ("p4", &["tag=10", "vlan_mode=native-untagged"]),
        ],
        bridge: &[
            "other-config:mac-table-size=100",
            "other-config:mac-aging-time=1000",
        ],
        receive: &[
            ("p1", 1, "in_port(1),eth(src=00:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)"),
            ("p3", 3, "in_port(3),eth(src=00:00:00:00:00:03,dst=ff:ff:ff:ff:ff:ff),eth_type(0x8100),vlan(vid=20,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.3,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))"),
            ("p4", 4, "in_port(4),eth(src=00:00:00:00:00:04,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=10.0.0.4,tip=10.0.0.1,op=1,sha=00:00:00:00:00:04,tha=00:00:00:00:00:00)"),
        ],
        fdb: &[],
        flows: "priority=0,actions=NORMAL",
        traces: &[
            "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,ip",
            "in_port=3,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:02,ip",
            "in_port=3,dl_vlan=30,ip",
            "in_port=1,dl_vlan=10,ip",
            "in_port=2,dl_vlan=5,tcp",
            "in_port=4,ip",
            "in_port=4,dl_dst=00:00:00:00:00:01,ip",
            "in_port=2,dl_dst=00:00:00:00:00:03,ip",
            "in_port=3,dl_vlan=10,dl_dst=00:00:00:00:00:01,ip",
            "in_port=1,dl_dst=00:00:00:00:00:01,ip",
            "in_port=1,dl_dst=00:00:00:00:00:04,tcp,tp_dst=80",
            "in_port=3,dl_vlan=10,dl_dst=00:00:00:00:00:04,ip",
            "in_port=3,dl_vlan=20,dl_dst=00:00:00:00:00:04,ip",
            "in_port=3,dl_vlan=20,dl_dst=00:00:00:00:00:03,ip",
            "in_port=1,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.1",
            "in_port=3,dl_vlan=10,dl_dst=01:80:c2:00:00:0e",
            "in_port=1,dl_dst=01:00:5e:00:00:01,udp",
            "in_port=LOCAL,dl_vlan=20,dl_dst=00:00:00:00:00:03,ip",
            "in_port=LOCAL,ip",
            "in_port=4,dl_vlan=10,ip",
            "in_port=4,dl_vlan=99,ip",
            "in_port=9,ip",
            "in_port=CONTROLLER,dl_vlan=20,ip",
            "ODP:in_port(3),eth(src=00:00:00:00:00:09,dst=00:00:00:00:00:01),eth_type(0x8100),vlan(vid=10,pcp=3),encap(eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.1,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
            "ODP:in_port(4),eth(src=00:00:00:00:00:09,dst=00:00:00:00:00:03),eth_type(0x8100),vlan(vid=20,pcp=2),encap(eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.3,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
        ],
    },
    L2Case {
        name: "normal-native-tagged-and-moves",
        ports: &[
            ("p1", &["tag=30", "vlan_mode=native-tagged"]),
            ("p2", &["tag=30", "trunks=30,40", "vlan_mode=native-untagged"]),
            ("p3", &["tag=30", "vlan_mode=access"]),
        ],
        // (Not mac-aging-time: stock turns static entries into dynamic
        // ones when it changes.)
        bridge: &[],
        receive: &[
            ("p3", 3, "in_port(3),eth(src=00:00:00:00:00:0a,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(src=10.0.0.10,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)"),
            ("p1", 1, "in_port(1),eth(src=00:00:00:00:00:0b,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(src=10.0.0.11,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)"),
            // 0a moves from p3 to p2.
            ("p2", 2, "in_port(2),eth(src=00:00:00:00:00:0a,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(src=10.0.0.10,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)"),
            ("p4", 4, "in_port(4),eth(src=00:00:00:00:00:0c,dst=ff:ff:ff:ff:ff:ff),eth_type(0x8100),vlan(vid=40,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.12,dst=10.0.0.255,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2))"),
        ],
        fdb: &[
            "fdb/add br0 p3 30 00:00:00:00:00:0a",
            "fdb/add br0 p3 30 00:00:00:00:00:0a",
            "fdb/add br0 p4 30 00:00:00:00:00:0a",
            "fdb/add br0 p1 0 00:00:00:00:00:99",
            "fdb/add br0 br0 7 00:00:00:00:00:98",
            "fdb/add br0 nosuch 0 00:00:00:00:00:99",
            "fdb/add br0 p1 0 zz",
            "fdb/add nobr p1 0 00:00:00:00:00:99",
            "fdb/del br0 30 00:00:00:00:00:0b",
            "fdb/del br0 0 00:00:00:00:00:99",
            "fdb/del br0 0 00:00:00:00:00:99",
            "fdb/del br0 0 00:00:00:00:00",
            "fdb/stats-clear nobr",
        ],
        flows: "priority=0,actions=NORMAL
                priority=10,in_port=4,udp,actions=resubmit(,1)
                table=1,actions=mod_dl_src:00:00:00:00:00:77,NORMAL",
        traces: &[
            "in_port=3,dl_dst=00:00:00:00:00:0a,ip",
            "in_port=3,dl_dst=00:00:00:00:00:0b,ip",
            "in_port=1,dl_dst=00:00:00:00:00:0a,ip",
            "in_port=1,dl_vlan=40,dl_dst=00:00:00:00:00:0c,ip",
            "in_port=2,dl_vlan=40,dl_dst=00:00:00:00:00:0c,ip",
            "in_port=4,dl_vlan=30,dl_dst=00:00:00:00:00:0b,ip",
            "in_port=4,dl_vlan=30,dl_dst=00:00:00:00:00:0a,udp",
            "in_port=4,dl_dst=00:00:00:00:00:0b,udp",
            "in_port=2,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=2",
            // A priority tag (VLAN 0) on a native port: the native VLAN,
            // with the packet's priority.
            "ODP:in_port(1),eth(src=00:00:00:00:00:09,dst=00:00:00:00:00:0a),eth_type(0x8100),vlan(vid=0,pcp=5),encap(eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.10,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
            "ODP:in_port(3),eth(src=00:00:00:00:00:09,dst=00:00:00:00:00:0b),eth_type(0x8100),vlan(vid=0,pcp=5),encap(eth_type(0x0800),ipv4(src=10.0.0.9,dst=10.0.0.11,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))",
        ],
    },
    L2Case {
        name: "normal-flood-vlans-forward-bpdu",
        ports: &[],
        bridge: &["flood_vlans=5,7", "other-config:forward-bpdu=true"],
        receive: &[
            ("p1", 1, "in_port(1),eth(src=00:00:00:00:00:21,dst=ff:ff:ff:ff:ff:ff),eth_type(0x8100),vlan(vid=6,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))"),
            ("p1", 0, "in_port(1),eth(src=00:00:00:00:00:22,dst=ff:ff:ff:ff:ff:ff),eth_type(0x8100),vlan(vid=5,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.255,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))"),
        ],
        fdb: &["fdb/add br0 p2 7 00:00:00:00:00:23"],
        flows: "priority=0,actions=NORMAL",
        traces: &[
            "in_port=2,dl_vlan=6,dl_dst=00:00:00:00:00:21,ip",
            "in_port=2,dl_vlan=5,dl_dst=00:00:00:00:00:22,ip",
            "in_port=3,dl_vlan=7,dl_dst=00:00:00:00:00:23,ip",
            "in_port=3,dl_dst=01:80:c2:00:00:00",
            "in_port=3,dl_dst=01:00:0c:cc:cc:cd",
        ],
    },
];

/// Cases where ferrovs still differs from stock, with the reason. Keys
/// are `pipeline/trace`. The test checks they still differ.
const KNOWN_GAPS: &[(&str, &str)] = &[(
    "single-table/ARGS:dummy in_port(3),eth_type(0x0806)",
    "a datapath flow without eth() is an L3 packet (packet_type); translation assumes Ethernet",
)];

/// Runs the corpus on one daemon; the report (or error) of each case.
fn run(name: &str, program: &Path) -> BTreeMap<String, String> {
    let mut sb = trace_corpus::start(name, program);
    let mut results = trace_corpus::run_all(&sb, CORPUS);
    let file = sb.dir.join("flows.txt");
    for c in L2_CORPUS {
        run_l2_case(&sb, c, &file, &mut results);
    }
    sb.stop_vswitchd();
    results
}

/// `fdb/show` with the Age column left out (it counts seconds).
fn fdb_rows(sb: &Sandbox) -> String {
    text(&sb.appctl(&["fdb/show", "br0"]).stdout)
        .lines()
        .map(|l| {
            // Static entries keep their "static" age.
            let n = if l.ends_with("static") { 4 } else { 3 };
            l.split_whitespace().take(n).collect::<Vec<_>>().join(" ") + "\n"
        })
        .collect()
}

fn run_l2_case(sb: &Sandbox, c: &L2Case, file: &Path, results: &mut BTreeMap<String, String>) {
    for p in ["p1", "p2", "p3", "p4"] {
        let out = sb.vsctl(&["clear", "port", p, "tag", "trunks", "vlan_mode"]);
        assert!(
            out.status.success(),
            "clear port {p}: {}",
            text(&out.stderr)
        );
    }
    for (p, settings) in c.ports {
        let mut args = vec!["set", "port", *p];
        args.extend_from_slice(settings);
        let out = sb.vsctl(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let out = sb.vsctl(&[
        "remove",
        "bridge",
        "br0",
        "other_config",
        "mac-table-size",
        "mac-aging-time",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    if !c.bridge.is_empty() {
        let mut args = vec!["set", "bridge", "br0"];
        args.extend_from_slice(c.bridge);
        let out = sb.vsctl(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let flows: String = c
        .flows
        .lines()
        .map(|l| l.trim().to_string() + "\n")
        .collect();
    std::fs::write(file, flows).expect("flows file");
    let file_s = file.display().to_string();
    let out = sb.run("ovs-ofctl", &["del-flows", "br0"]);
    assert!(out.status.success(), "del-flows: {}", text(&out.stderr));
    let out = sb.run("ovs-ofctl", &["add-flows", "br0", &file_s]);
    assert!(
        out.status.success(),
        "{}: add-flows: {}",
        c.name,
        text(&out.stderr)
    );
    // The settings must be in force before the packets arrive.
    let _ = sb.vsctl(&["--timeout=5", "wait-until", "port", "p1", "name=p1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for args in [&["fdb/flush", "br0"][..], &["fdb/stats-clear", "br0"]] {
        let out = sb.appctl(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    for (port, odp, flow) in c.receive {
        let out = sb.appctl(&["netdev-dummy/receive", port, flow]);
        assert!(out.status.success(), "receive: {}", text(&out.stderr));
        let src = flow
            .split("eth(src=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or("");
        if *odp == 0 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            continue;
        }
        let want = format!("{odp} ");
        sb.wait_for(
            || {
                fdb_rows(sb)
                    .lines()
                    .any(|l| l.starts_with(&want) && l.ends_with(src))
            },
            &format!("{}: {src} learned on {port}", c.name),
        )
        .expect("learning");
    }
    for (i, cmd) in c.fdb.iter().enumerate() {
        let args: Vec<&str> = cmd.split(' ').collect();
        let out = sb.appctl(&args);
        results.insert(
            format!("{}/fdb/{i:02} {cmd}", c.name),
            format!(
                "rc={:?}\n{}{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            ),
        );
    }
    results.insert(format!("{}/fdb/show", c.name), fdb_rows(sb));
    results.insert(
        format!("{}/fdb/stats-show", c.name),
        text(&sb.appctl(&["fdb/stats-show", "br0"]).stdout),
    );
    for t in c.traces {
        let report = trace_corpus::trace(sb, t);
        results.insert(format!("{}/{t}", c.name), report);
    }
}

#[test]
fn trace_matches_stock() {
    let n_cases: usize = CORPUS.iter().map(|p| p.traces.len()).sum::<usize>()
        + L2_CORPUS
            .iter()
            .map(|c| c.traces.len() + c.fdb.len() + 2)
            .sum::<usize>();
    let ferrovs = Path::new(FERROVS);
    let Some((stock, ours)) =
        trace_corpus::on_both("trace_matches_stock", "trace", ferrovs, n_cases, run)
    else {
        return;
    };
    // The corpus must really exercise translation on stock.
    assert!(
        stock
            .values()
            .filter(|r| r.contains("Datapath actions: ") && !r.contains("Datapath actions: drop"))
            .count()
            > n_cases / 2,
        "stock forwarded too few cases: the corpus is not doing its job"
    );
    let (full, lines, failures) = compare(&stock, &ours, KNOWN_GAPS);
    eprintln!(
        "ofproto/trace: {n_cases} cases, {lines} with the same megaflow and datapath actions, {full} identical in full, {} known gaps",
        KNOWN_GAPS.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
