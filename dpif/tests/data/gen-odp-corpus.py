#!/usr/bin/env python3
"""Extracts the key and action corpora of Open vSwitch's tests/odp.at.

Usage: gen-odp-corpus.py /path/to/openvswitch/tests/odp.at
Writes odp-keys.txt (exact keys), odp-wc-keys.txt (keys with masks) and
odp-actions.txt here, running the test's own shell snippets (m4 quotes
undone) so that the lines are exactly the ones the test feeds ovstest.
"""
import os, re, subprocess, sys, tempfile

at = open(sys.argv[1]).read()
here = os.path.dirname(os.path.abspath(__file__))

def unquote(s):
    return s.replace('[[', '[').replace(']]', ']')

def section(title):
    i = at.index(title)
    j = at.index('AT_CLEANUP', i)
    return at[i:j]

def run_keys(title, outname, target):
    sec = section(title)
    base = re.search(r'AT_DATA\(\[odp-base.txt\], \[dnl\n(.*?)\n\]\)', sec, re.S).group(1)
    script = re.search(r"\n(\(echo .*?\) > %s)" % re.escape(target), sec, re.S).group(1)
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, 'odp-base.txt'), 'w').write(unquote(base) + '\n')
        subprocess.run(['bash', '-c', unquote(script)], cwd=d, stderr=subprocess.DEVNULL)
        lines = open(os.path.join(d, target)).read().splitlines()
    lines = [l for l in lines if l and not l.startswith('#')]
    open(os.path.join(here, outname), 'w').write('\n'.join(lines) + '\n')

run_keys('OVS datapath key parsing and formatting - valid forms', 'odp-keys.txt', 'odp-in.txt')
run_keys('OVS datapath wildcarded key parsing and formatting - valid forms', 'odp-wc-keys.txt', 'odp.txt')

sec = section('OVS datapath actions parsing and formatting - valid forms')
acts = re.search(r'AT_DATA\(\[actions.txt\], \[dnl\n(.*?)\n\]\)', sec, re.S).group(1)
lines = [l for l in unquote(acts).splitlines() if l]
open(os.path.join(here, 'odp-actions.txt'), 'w').write('\n'.join(lines) + '\n')
