#!/usr/bin/env bash
# capture.sh - capture golden VRRP adverts from the real keepalived.
#
# Runs keepalived as a lone MASTER in network namespace kagold-a, captures
# its adverts with tcpdump in namespace kagold-b (the two are joined by a
# veth pair, 198.18.5.0/24 and fd00:198:18::/64), and writes each advert
# as hex (whole IP packet, link layer stripped) into this directory.
# Nothing is sent from the root namespace's interfaces; every namespace,
# link, process and temp file created here is removed on exit.
#
# Usage (as root):  ./capture.sh            writes *.hex next to this script
#   OUT=/some/dir ./capture.sh              writes them elsewhere
#   KEEP_WORK=1 ./capture.sh                keep pcaps, configs and logs
# Needs: keepalived, tcpdump, iproute2, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
PY=${PYTHON:-python3}
NS_A=kagold-a
NS_B=kagold-b
IF_A=kag-a
IF_B=kag-b
# Fixed MACs make the IPv6 link-local addresses (EUI-64) reproducible.
MAC_A=02:6b:61:00:00:01
MAC_B=02:6b:61:00:00:02
V4_A=198.18.5.1
V4_B=198.18.5.2
V6_A=fd00:198:18::1
V6_B=fd00:198:18::2
LL_A=fe80::6b:61ff:fe00:1
CAPTURE_SECS=${CAPTURE_SECS:-3}

log() { printf '[capture] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
for c in keepalived tcpdump ip "$PY"; do
	command -v "$c" >/dev/null || die "missing command: $c"
done

WORK=$(mktemp -d /tmp/kagold.XXXXXX)
PIDS=()   # processes started by this script

# stop_pid PID: SIGTERM, wait up to 10s, then SIGKILL. Only for our PIDs.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

# del_ns NS: stop whatever runs inside our namespace (only this script
# starts processes there), then delete it; the veth pair goes with it.
del_ns() {
	local ns=$1 pid
	[[ -e /run/netns/$ns ]] || return 0
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		stop_pid "$pid"
	done
	ip netns del "$ns" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	del_ns "$NS_A"
	del_ns "$NS_B"
	if [[ -n ${KEEP_WORK:-} ]]; then
		log "work files kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_netns() {
	del_ns "$NS_A"   # leftovers of an interrupted earlier run
	del_ns "$NS_B"
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	local ns
	for ns in "$NS_A" "$NS_B"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0
		ip -n "$ns" link set lo up
	done
	# Created inside the namespaces: the root namespace never sees the pair.
	ip -n "$NS_A" link add "$IF_A" address "$MAC_A" type veth \
		peer name "$IF_B" address "$MAC_B" netns "$NS_B"
	ip -n "$NS_A" addr add "$V4_A/24" dev "$IF_A"
	ip -n "$NS_A" addr add "$V6_A/64" dev "$IF_A" nodad
	ip -n "$NS_B" addr add "$V4_B/24" dev "$IF_B"
	ip -n "$NS_B" addr add "$V6_B/64" dev "$IF_B" nodad
	ip -n "$NS_A" link set "$IF_A" up
	ip -n "$NS_B" link set "$IF_B" up
	local i
	for ((i = 0; i < 50; i++)); do
		ip -n "$NS_A" -6 addr show dev "$IF_A" scope link | grep -q "$LL_A" &&
			! ip -n "$NS_A" -6 addr show dev "$IF_A" | grep -q tentative && return 0
		sleep 0.1
	done
	die "link-local $LL_A did not come up on $IF_A"
}

# ---------------------------------------------------------------- configs
# conf_for CASE prints the keepalived.conf used by that case.
conf_for() {
	case $1 in
	v2_ipv4_noauth) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 2
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        198.18.5.100
        198.18.5.101
    }
}
EOF
	v2_ipv4_pass) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 2
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        198.18.5.100
        198.18.5.101
    }
}
EOF
	v3_ipv4_pseudo) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 52
    priority 120
    advert_int 1
    virtual_ipaddress {
        198.18.5.110
    }
}
EOF
	v3_ipv4_as_v2) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
    v3_checksum_as_v2
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 52
    priority 120
    advert_int 1
    virtual_ipaddress {
        198.18.5.110
    }
}
EOF
	v3_ipv4_centisec) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 53
    priority 200
    advert_int 0.35
    virtual_ipaddress {
        198.18.5.120
    }
}
EOF
	v3_ipv6) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 54
    priority 100
    advert_int 1
    virtual_ipaddress {
        fe80::54
        fd00:198:18::54
    }
}
EOF
	v3_ipv4_unicast) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 55
    priority 110
    advert_int 1
    unicast_src_ip $V4_A
    unicast_peer {
        $V4_B
    }
    virtual_ipaddress {
        198.18.5.130
    }
}
EOF
	v2_ipv4_unicast_pass) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 2
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 56
    priority 130
    advert_int 1
    unicast_src_ip $V4_A
    unicast_peer {
        $V4_B
    }
    authentication {
        auth_type PASS
        auth_pass abcdefgh
    }
    virtual_ipaddress {
        198.18.5.140
    }
}
EOF
	# keepalived < 2.2.8 has no v3_checksum_as_v2; its only other VRRPv3
	# checksum knob is old_unicast_checksum (pre-1.3.6 unicast checksum:
	# pseudo-header destination 224.0.0.18 although the packet is unicast).
	v3_ipv4_unicast_oldchksum) cat <<EOF ;;
global_defs {
    router_id kagold
    vrrp_version 3
}

vrrp_instance kagold {
    state MASTER
    interface $IF_A
    virtual_router_id 57
    priority 110
    advert_int 1
    unicast_src_ip $V4_A
    unicast_peer {
        $V4_B
    }
    old_unicast_checksum
    virtual_ipaddress {
        198.18.5.150
    }
}
EOF
	*) die "no config for case $1" ;;
	esac
}

# ------------------------------------------------------- pcap -> hex file
cat >"$WORK/extract.py" <<'PYEOF'
"""extract.py PCAP OUT HEADER VRID PRIO: write the first VRRP advert in PCAP
with the given VRID and priority as a golden hex file (IP packet only)."""
import ipaddress, struct, sys

def pcap_frames(path):
    data = open(path, 'rb').read()
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '>'
    else:
        sys.exit('%s: not a classic pcap file' % path)
    linktype = struct.unpack(e + 'I', data[20:24])[0]
    if linktype != 1:
        sys.exit('%s: link type %d, want 1 (Ethernet)' % (path, linktype))
    off = 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(e + 'IIII', data[off:off + 16])
        off += 16
        if incl != orig:
            sys.exit('truncated frame in %s' % path)
        yield data[off:off + incl]
        off += incl

def ip_packet(frame):
    """Strip Ethernet (and any 802.1Q tags) and Ethernet padding."""
    et, off = struct.unpack('!H', frame[12:14])[0], 14
    while et in (0x8100, 0x88a8):
        et, off = struct.unpack('!H', frame[off + 2:off + 4])[0], off + 4
    p = frame[off:]
    if et == 0x0800 and p[0] >> 4 == 4:
        return p[:struct.unpack('!H', p[2:4])[0]]
    if et == 0x86dd and p[0] >> 4 == 6:
        return p[:40 + struct.unpack('!H', p[4:6])[0]]
    return None

def split(p):
    """-> (src, dst, ttl/hlim, vrrp message) or None if not VRRP."""
    if p[0] >> 4 == 4:
        ihl = (p[0] & 15) * 4
        if p[9] != 112:
            return None
        return (ipaddress.ip_address(p[12:16]), ipaddress.ip_address(p[16:20]),
                p[8], p[ihl:])
    if p[6] != 112:
        return None
    return (ipaddress.ip_address(p[8:24]), ipaddress.ip_address(p[24:40]),
            p[7], p[40:])

def main():
    pcap, out, header, vrid, prio = sys.argv[1:6]
    vrid, prio = int(vrid), int(prio)
    for frame in pcap_frames(pcap):
        p = ip_packet(frame)
        s = p and split(p)
        if not s or len(s[3]) < 8:
            continue
        if s[3][0] & 15 == 1 and s[3][1] == vrid and s[3][2] == prio:
            break
    else:
        sys.exit('%s: no advert with vrid %d priority %d' % (pcap, vrid, prio))
    src, dst, ttl, _ = s
    lines = open(header).read().rstrip('\n').split('\n')
    lines.append('# src %s dst %s %s %d' % (src, dst, 'ttl' if p[0] >> 4 == 4 else 'hlim', ttl))
    for i in range(0, len(p), 16):
        lines.append(' '.join('%02x' % b for b in p[i:i + 16]))
    with open(out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    # Round trip: the file must parse back to exactly these bytes.
    back = bytes.fromhex(''.join(l for l in open(out).read().split('\n')
                                 if l.strip() and not l.startswith('#')))
    if back != p:
        sys.exit('%s: round trip mismatch' % out)
    print('%s: %d bytes, %s -> %s' % (out, len(p), src, dst))

main()
PYEOF

KA_VERSION=$(keepalived -v 2>&1 | sed -n 1p)
KA_DEB=$(dpkg-query -W -f='${Version}' keepalived 2>/dev/null || true)
CAPTURE_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# header CASE CONFIG: the comment block at the top of a golden file.
header() {
	printf '# captured from keepalived %s%s on %s\n' "$KA_VERSION" \
		"${KA_DEB:+ (Debian package $KA_DEB)}" "$CAPTURE_DATE"
	printf '# capture.sh case: %s\n' "$1"
	sed -e 's/^/#   /' -e 's/[[:space:]]*$//' "$2"
}

# wait_for FILE REGEX SECONDS PID: wait until FILE matches REGEX.
wait_for() {
	local file=$1 re=$2 secs=$3 pid=$4 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# config_ok CASE: keepalived's own config test (-t) accepts CASE's config.
config_ok() {
	local name=$1 d="$WORK/$1" rc=0
	mkdir -p "$d"
	conf_for "$name" >"$d/keepalived.conf"
	ip netns exec "$NS_A" keepalived -t -f "$d/keepalived.conf" \
		>"$d/configtest.log" 2>&1 || rc=$?
	if [[ -s $d/configtest.log ]]; then
		log "$name: keepalived -t said (exit status $rc):"
		sed 's/^/[capture]     /' "$d/configtest.log" >&2
	fi
	return "$rc"
}

# run_case CASE VRID PRIO [PRIO0_FILE]
# Captures CASE.hex (advert with priority PRIO) and, if PRIO0_FILE is
# given, the priority-0 advert sent on SIGTERM into PRIO0_FILE.
run_case() {
	local name=$1 vrid=$2 prio=$3 prio0=${4:-}
	local d="$WORK/$name" kpid tpid
	rm -f "$OUT/$name.hex" ${prio0:+"$OUT/$prio0.hex"}

	if ! config_ok "$name"; then
		die "$name: keepalived rejected the configuration"
	fi

	ip netns exec "$NS_B" tcpdump -n -U -i "$IF_B" -w "$d/adverts.pcap" \
		'ip proto 112 or ip6 proto 112' 2>"$d/tcpdump.log" &
	tpid=$!
	PIDS+=("$tpid")
	wait_for "$d/tcpdump.log" 'listening on' 10 "$tpid" ||
		die "$name: tcpdump did not start: $(cat "$d/tcpdump.log")"

	ip netns exec "$NS_A" keepalived -n -l -D -G -P -R \
		-f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" \
		-c "$d/checkers.pid" -b "$d/bfd.pid" >"$d/keepalived.log" 2>&1 &
	kpid=$!
	PIDS+=("$kpid")
	# state MASTER still starts in BACKUP and takes over after ~3 intervals.
	wait_for "$d/keepalived.log" 'Entering MASTER STATE' 20 "$kpid" ||
		die "$name: keepalived did not become MASTER; log:
$(cat "$d/keepalived.log")"
	sleep "$CAPTURE_SECS"

	kill -TERM "$kpid"   # keepalived sends a priority-0 advert on the way out
	stop_pid "$kpid"
	sleep 1
	kill -INT "$tpid"
	stop_pid "$tpid"
	PIDS=()

	header "$name" "$d/keepalived.conf" >"$d/header"
	"$PY" "$WORK/extract.py" "$d/adverts.pcap" "$OUT/$name.hex" "$d/header" "$vrid" "$prio"
	if [[ -n $prio0 ]]; then
		header "$prio0 (priority-0 advert sent on SIGTERM, config of $name)" \
			"$d/keepalived.conf" >"$d/header0"
		"$PY" "$WORK/extract.py" "$d/adverts.pcap" "$OUT/$prio0.hex" "$d/header0" "$vrid" 0
	fi
}

log "keepalived: $KA_VERSION ${KA_DEB:+(Debian $KA_DEB)}; work dir $WORK"
mkdir -p "$OUT"
setup_netns

run_case v2_ipv4_noauth 51 150 v2_ipv4_prio0
run_case v2_ipv4_pass 51 150
run_case v3_ipv4_pseudo 52 120 v3_ipv4_prio0
if config_ok v3_ipv4_as_v2; then
	run_case v3_ipv4_as_v2 52 120
else
	rm -f "$OUT/v3_ipv4_as_v2.hex"
	log "v3_ipv4_as_v2: skipped (v3_checksum_as_v2 needs keepalived >= 2.2.8);" \
		"v3_ipv4_unicast_oldchksum is 2.2.7's nearest checksum variant"
fi
run_case v3_ipv4_centisec 53 200
run_case v3_ipv6 54 100 v3_ipv6_prio0
run_case v3_ipv4_unicast 55 110
run_case v2_ipv4_unicast_pass 56 130
run_case v3_ipv4_unicast_oldchksum 57 110
log "done"
