#!/usr/bin/env bats
# One option vocabulary (evpipe.7, OPTIONS CONVENTIONS), checked over
# every tool's --help: a long name takes one kind of argument, a short
# letter stands for one long name, every duration option takes the one
# duration syntax, and the spellings a release used still work.

load helpers

TOOLS="evcat forward pack-run resolve store subscribe"

# "TOOL SHORT LONG ARG" for each option TOOL --help lists; SHORT and ARG
# are "-" when there are none.
options() {
	local t
	for t in $TOOLS; do
		"$t" --help | sed -nE 's/^ +(-([a-zA-Z]), )?--([a-z0-9_-]+)(=([][A-Z0-9_:=]+))?( .*)?$/\2 \3 \5/p' |
		    while read -r a b c; do
			if [ -z "$c" ] && [[ "$a" != ? ]]; then
				c=$b b=$a a=""
			fi
			echo "$t ${a:--} $b ${c:--}"
		done
	done
}

# The kind of an argument: names that say the same thing are one kind.
kind() {
	case $1 in
	DURATION) echo TIME ;; # store's name for it
	JWT) echo TOKEN ;;     # pack-run's token is a JWT
	VAR) echo NAME ;;      # pack-run's --token-env
	*) echo "$1" ;;
	esac
}

@test "the option tables parse: every tool lists options, with their kinds" {
	run options
	echo "$output"
	[ "$status" -eq 0 ]
	for t in $TOOLS; do
		grep -q "^$t h help -$" <<<"$output"
		grep -q "^$t -[a-z-]* version -$" <<<"$output"
	done
	grep -qx "forward t to URL" <<<"$output"
	grep -qx "subscribe - after ID" <<<"$output"
	grep -qx "store - retention DURATION" <<<"$output"
}

@test "a long option takes the same kind of argument in every tool" {
	# Known exception, kept from evpipe 0.1 and named in evpipe.7:
	# pack-run's --api is the Flyte API's URL, not a kind of server.
	local bad=0 tool short long arg
	declare -A seen where
	while read -r tool short long arg; do
		[ "$tool $long" = "pack-run api" ] && continue
		arg=$(kind "$arg")
		if [ -n "${seen[$long]:-}" ] && [ "${seen[$long]}" != "$arg" ]; then
			echo "--$long: ${where[$long]} takes ${seen[$long]}, $tool takes $arg"
			bad=1
		fi
		seen[$long]=$arg where[$long]=$tool
	done < <(options)
	[ "$bad" -eq 0 ]
	# The meanings evpipe.7 gives, where the tools that have them agree.
	[ "${seen[api]}" = API ] && [ "${seen[endpoint]}" = URL ] &&
	    [ "${seen[to]}" = URL ] && [ "${seen[since]}" = TIME ] &&
	    [ "${seen[after]}" = ID ] && [ "${seen[type]}" = TYPE ] &&
	    [ "${seen[message-type]}" = NAME ] &&
	    [ "${seen[max-record]}" = SIZE ]
}

@test "a short option stands for one long option in every tool" {
	# The released exceptions evpipe.7 lists, as "TOOL -X --long".
	local except="evcat-f-format evcat-d-decode store-t-tee store-d-db
	    pack-run-p-pack"
	local bad=0 tool short long arg
	declare -A seen where
	while read -r tool short long arg; do
		[ "$short" = - ] && continue
		[[ " $(echo $except) " == *" $tool-$short-$long "* ]] && continue
		if [ -n "${seen[$short]:-}" ] && [ "${seen[$short]}" != "$long" ]; then
			echo "-$short: --${seen[$short]} in ${where[$short]}, --$long in $tool"
			bad=1
		fi
		seen[$short]=$long where[$short]=$tool
	done < <(options)
	[ "$bad" -eq 0 ]
	# evpipe.7 names each exception.
	for e in $except; do
		t=${e%%-?-*} x=${e#"$t"-} x=${x%%-*}
		echo "exception: $t -$x"
		sed -n '/^\.Sh OPTIONS CONVENTIONS/,/^\.Sh [^O]/p' \
		    "$EVPIPE_SRCDIR/man/evpipe.7" | grep -qx "\.Nm $t Fl $x.*"
	done
	# The table evpipe.7 gives.
	for pair in b:batch c:count f:force H:header h:help m:max-record \
	    n:dry-run p:protocol q:quiet t:to v:verbose w:window; do
		echo "-${pair%%:*}: ${seen[${pair%%:*}]:-}"
		[ "${seen[${pair%%:*}]}" = "${pair#*:}" ]
	done
}

@test "the short options kept from evpipe 0.1 still work" {
	# store -t is --tee: with the table in --help.
	"store" --help | grep -q -- "-t, --tee"
	# evcat -f is --format: a format makes lines, so not with -e.
	run -64 --separate-stderr evcat -e -f x </dev/null
	# exit-status: evcat 64
	[ "${stderr_lines[0]}" = "evcat: -f makes lines from records, not records" ]
}

# accepts TOOL OPTION VALUE: the value is read (the option after it is
# the first thing refused) or refused only for its range.
accepts() {
	run -64 --separate-stderr "$1" "--$2" "$3" --zz-no-such-option
	echo "$1 --$2 $3: ${stderr_lines[0]}"
	[ "${stderr_lines[0]}" = "$1: unknown option --zz-no-such-option" ] ||
	    [[ "${stderr_lines[0]}" == "$1: --$2 $3: not a time from "* ]]
}

@test "every duration option takes 30, 30s, 1m, 1.5h and 1d, and refuses 1x" {
	# exit-status: forward 64
	# exit-status: resolve 64
	# exit-status: subscribe 64
	# exit-status: pack-run 64
	# exit-status: store 64
	local n=0 tool short long arg
	while read -r tool short long arg; do
		[ "$(kind "$arg")" = TIME ] || continue
		# store's --since is a time or a duration: its own message.
		[ "$tool $long" = "store since" ] && continue
		for v in 30 30s 1m 1.5h 1d 0.5; do
			accepts "$tool" "$long" "$v"
		done
		run -64 --separate-stderr "$tool" "--$long" 1x
		echo "${stderr_lines[0]}"
		[[ "${stderr_lines[0]}" == "$tool: --$long 1x: not a "* ]]
		[[ "${stderr_lines[0]}" != *" from "* ]]
		n=$((n + 1))
	done < <(options)
	[ "$n" -ge 10 ]
}

@test "a duration option's range is its own, not the syntax's" {
	# exit-status: subscribe 64
	run -64 --separate-stderr subscribe --ack-deadline 1d
	[ "${stderr_lines[0]}" = "subscribe: --ack-deadline 1d: not a time from 30s to 300s" ]
	run -64 --separate-stderr subscribe --ack-deadline 1q
	[ "${stderr_lines[0]}" = "subscribe: --ack-deadline 1q: not a duration such as 30, 30s, 1m or 1d" ]
}

@test "the old spellings are aliases: the same option, out of --help" {
	# exit-status: subscribe 64
	# subscribe --since ID is --after ID; --type NAME is --message-type.
	for o in since after; do
		run -64 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
		    --queue q --$o 5
		[ "${stderr_lines[0]}" = "subscribe: --after is for --api axway only" ]
		run -64 --separate-stderr subscribe --$o x
		[ "${stderr_lines[0]}" = "subscribe: --after x: not a number from 0 to 9223372036854775807" ]
	done
	for o in type message-type; do
		run -64 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
		    --queue q --$o a.B
		[ "${stderr_lines[0]}" = "subscribe: --message-type is for --api generic only" ]
	done
	! subscribe --help | grep -E -- "--(since|type)[= ]"
	# The EngFlow client's spellings and forward's --forward.
	for o in notification_queue_endpoint endpoint; do
		run -64 --separate-stderr subscribe --$o grpc://x --queue q \
		    --zz-no-such-option
		[ "${stderr_lines[0]}" = "subscribe: unknown option --zz-no-such-option" ]
	done
	for o in forward to; do
		run -64 --separate-stderr forward --$o nosuch://x
		[[ "${stderr_lines[0]}" == "forward: "*"nosuch://x"* ]]
	done
	# The page names every hidden alias with its option.
	grep -q '^\.Fl \\-since Ar id ,$' "$EVPIPE_SRCDIR/man/subscribe.1"
	grep -q '^\.Fl \\-type ,$' "$EVPIPE_SRCDIR/man/subscribe.1"
}
