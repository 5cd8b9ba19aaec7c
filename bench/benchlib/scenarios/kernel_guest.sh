#!/bin/sh
# Runs inside the VM of tests/vm/ (busybox sh, Debian's stock kernel and
# openvswitch module): times datapath flow installs, dumps and deletes,
# alternating the stock ovs-dpctl and ferrovs-dpctl over $BENCH_ROUNDS
# rounds, on a fresh datapath each time. Prints one line per measurement:
#   RESULT <side> <flows dumped> <t0> <t1> <t2> <t3>   (times: /proc/uptime)
#   MISSING <side> <reason>
# and, each round, the upcall rate of ferrovs's UpcallSocket when the
# upcall_rate program is in the VM ($UPCALL_RATE):
#   UPCALLS <received> <seconds> <sent> <lost>
flows=/payload/bin/kernel-flows.txt
log=/payload/dpctl.out

now() { read -r up _ </proc/uptime; echo "$up"; }
fail() { echo "MISSING $1 $(basename "$tool") $2: $(tail -n 1 $log | tr -d '\r')"; }

round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
  for side in stock ferrovs; do
    if [ $side = stock ]; then tool=$STOCK_DPCTL; else tool=$FERROVS_DPCTL; fi
    if [ ! -x "$(command -v "$tool")" ]; then
      echo "MISSING $side $tool is not in the VM"
      continue
    fi
    $tool del-dp fvbench >/dev/null 2>&1
    if ! $tool add-dp fvbench >$log 2>&1; then fail $side add-dp; continue; fi
    t0=$(now)
    if ! $tool add-flows fvbench $flows >$log 2>&1; then
      fail $side add-flows; $tool del-dp fvbench >/dev/null 2>&1; continue
    fi
    t1=$(now)
    if ! $tool dump-flows fvbench >/payload/dump 2>$log; then
      fail $side dump-flows; $tool del-dp fvbench >/dev/null 2>&1; continue
    fi
    t2=$(now)
    dumped=$(grep -c 'actions:' /payload/dump)
    if ! $tool del-flows fvbench >$log 2>&1; then
      fail $side del-flows; $tool del-dp fvbench >/dev/null 2>&1; continue
    fi
    t3=$(now)
    $tool del-dp fvbench >/dev/null 2>&1
    echo "RESULT $side $dumped $t0 $t1 $t2 $t3"
  done
  if [ -n "$UPCALL_RATE" ] && [ -x "$UPCALL_RATE" ]; then
    "$UPCALL_RATE" "${UPCALL_SECONDS:-3}" 2>&1 | grep -E '^(UPCALLS|MISSING)' | sed 's/^MISSING /MISSING upcalls /'
  fi
  round=$((round + 1))
done
echo "DONE"
