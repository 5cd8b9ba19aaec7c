"""An os-ken (PyPI) OpenFlow 1.3 application for the controller suite: on
each switch's features reply it installs a table-miss flow to the
controller and one forwarding flow, like os-ken's simple switch does."""
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3

class App(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        dp = ev.msg.datapath
        ofp, p = dp.ofproto, dp.ofproto_parser
        acts = [p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        ins = [p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, acts)]
        dp.send_msg(p.OFPFlowMod(datapath=dp, priority=0, match=p.OFPMatch(), instructions=ins))
        m = p.OFPMatch(in_port=1, eth_dst='00:00:00:00:00:02')
        ins = [p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [p.OFPActionOutput(2)])]
        dp.send_msg(p.OFPFlowMod(datapath=dp, priority=1, match=m, instructions=ins))
        print("OSKEN-FEATURES dpid=%016x" % dp.id, flush=True)
