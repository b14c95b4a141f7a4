#!/usr/bin/env bats
# Every exit status a page documents is reached by a real failure in some
# test (evpipe's brief; issue 15 item 6).  A test that does so says which,
# inside its body, one line per (tool, status):
#	# exit-status: store 69
# This file reads the EXIT STATUS sections of man/*.1 and those lines in
# tests/*.bats, and names every status no test claims.  The statuses a
# page requires come from the page itself, so a status added to a page
# shows up here until a test reaches it.

load helpers

MAN=$EVPIPE_SRCDIR/man
TESTS=$EVPIPE_SRCDIR/tests

# required PAGE: the statuses PAGE's EXIT STATUS list requires, one a line.
# Each .It of the list is an entry:
#   .It 0  /  .It 1 , 2 , 4   each status named.
#   .It 1\(en16 (a range)      the statuses of the range that the entry's
#	text names, by number or by gRPC code name, and those the page names
#	by code name anywhere (a page names a gRPC status where a call can
#	end with it or is retried with it, until --retries runs out); if
#	that is none, "A-B": some status of the range.
# Signals count only when a page lists them (as 143).  "required PAGE
# documented" gives every range whole, as "A-B".
required() {
	awk -v mode="${2:-required}" '
	BEGIN {
		split("CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED " \
		    "NOT_FOUND ALREADY_EXISTS PERMISSION_DENIED " \
		    "RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED " \
		    "OUT_OF_RANGE UNIMPLEMENTED INTERNAL UNAVAILABLE " \
		    "DATA_LOSS UNAUTHENTICATED", name, " ")
		for (i = 1; i <= 16; i++)
			code[name[i]] = i
	}
	function names(s, set,    w, n, i) {
		n = split(s, w, /[^A-Z_]+/)
		for (i = 1; i <= n; i++)
			if (w[i] in code)
				set[code[w[i]]] = 1
	}
	function numbers(s, set,    w, n, i) {
		gsub(/\\-[a-z0-9-]*/, " ", s)	# options, as \-retries
		n = split(s, w, /[^0-9]+/)
		for (i = 1; i <= n; i++)
			if (w[i] != "")
				set[w[i] + 0] = 1
	}
	function flush(    lo, hi, s, any) {
		if (head == "")
			return
		if (match(head, /^[0-9]+ *(\\\(en|–|-) *[0-9]+$/)) {
			lo = head; sub(/[^0-9].*/, "", lo)
			hi = head; sub(/.*[^0-9]/, "", hi)
			if (mode == "documented") {
				print lo "-" hi
				head = body = ""
				return
			}
			split("", inbody)
			numbers(body, inbody)
			names(body, inbody)
			for (s in pagenames)
				inbody[s] = 1
			any = 0
			for (s = lo + 0; s <= hi + 0; s++)
				if (s in inbody) {
					print s
					any = 1
				}
			if (!any)
				print lo "-" hi
		} else {
			gsub(/[ ,]+/, " ", head)
			n = split(head, w, " ")
			for (i = 1; i <= n; i++)
				print w[i] + 0
		}
		head = body = ""
	}
	NR == FNR { names($0, pagenames); next }
	/^\.Sh / { sect = substr($0, 5); depth = 0 }
	sect != "EXIT STATUS" { next }
	/^\.Bl / { depth++; next }
	/^\.El/ { if (--depth == 0) flush(); next }
	depth == 1 && /^\.It / {
		flush()
		head = " " substr($0, 5) " "
		# mdoc macros around the numbers (Sy 64, 1 Ns \(en Ns 16)
		while (gsub(/ [A-Z][a-z][a-z]? /, " ", head))
			;
		gsub(/^ +| +$/, "", head)
		if (head !~ /^[0-9][0-9 ,\\(en–-]*$/)
			printf "unparsed: %s\n", $0
		next
	}
	depth >= 1 && head != "" { body = body " " $0 }
	' "$MAN/$1.1" "$MAN/$1.1" | sort -n -u
}

# tags: "TOOL STATUS FILE:LINE" for every exit-status line of tests/*.bats,
# "outside FILE:LINE: ..." for one outside a test's body (a helper
# function's is not seen to be run) and "malformed FILE:LINE: ...".
tags() {
	awk '
	FNR == 1 { intest = 0 }
	/^@test / { intest = 1 }
	/^}/ { intest = 0 }
	/^[ \t]*# exit-status:/ {
		f = FILENAME; sub(/.*\//, "", f)
		if (!intest)
			print "outside " f ":" FNR ": " $0
		else if (NF != 4 || $4 !~ /^[0-9]+$/)
			print "malformed " f ":" FNR ": " $0
		else
			print $3, $4, f ":" FNR
	}' "$TESTS"/*.bats
}

# unchecked_tags: "FILE:LINE: # exit-status: TOOL N" for every tag whose test body does not
# show the status anywhere else (a tag copied to the wrong test).
unchecked_tags() {
	awk '
	function check(    i) {
		for (i = 1; i <= ntag; i++) {
			if (!(tag[i] in seen))
				print where[i] ": # exit-status: " tool[i] " " tag[i]
		}
		ntag = 0
		split("", seen)
	}
	FNR == 1 { check(); intest = 0 }
	/^@test / { intest = 1 }
	/^}/ { if (intest) check(); intest = 0 }
	!intest { next }
	/^[ \t]*# exit-status:/ {
		if (NF != 4 || $4 !~ /^[0-9]+$/)
			next	# malformed: told by tags
		ntag++
		tool[ntag] = $3
		tag[ntag] = $4
		f = FILENAME; sub(/.*\//, "", f)
		where[ntag] = f ":" FNR
		next
	}
	{
		n = split($0, w, /[^0-9]+/)
		for (i = 1; i <= n; i++)
			if (w[i] != "")
				seen[w[i] + 0] = 1
	}
	END { check() }' "$TESTS"/*.bats
}

pages() {
	local f
	for f in "$MAN"/*.1; do
		basename "$f" .1
	done
}

@test "every EXIT STATUS entry of every page is understood" {
	local page bad=
	for page in $(pages); do
		run required "$page"
		echo "$page: $(echo $output)"
		[ "$status" -eq 0 ]
		[ -n "$output" ] || bad="$bad $page(no statuses)"
		grep -q '^unparsed:' <<< "$output" && bad="$bad $page"
	done
	[ -z "$bad" ]
}

@test "the rules for a page's entries: numbers, lists, ranges by what they name" {
	MAN=$BATS_TEST_TMPDIR
	cat > "$MAN/x.1" <<-'EOF'
	.Sh DESCRIPTION
	Calls failing with UNAVAILABLE are retried.
	.Sh EXIT STATUS
	.Bl -tag -width Ds -compact
	.It 0
	Done, after
	.Fl \-retries 3 .
	.It 1\(en16
	The call's status (5 NOT_FOUND, or 7 when 403 and 200 were said).
	.It Sy 2 , 4
	Either.
	.It 64
	.Bl -bullet
	.It
	A nested list is text.
	.El
	.It 143
	The second SIGTERM.
	.El
	.Sh SEE ALSO
	DATA_LOSS too, once retries run out.
	EOF
	[ "$(required x | tr '\n' ' ')" = "0 2 4 5 7 14 15 64 143 " ]
	[ "$(required x documented | tr '\n' ' ')" = "0 1-16 2 4 64 143 " ]
	# a range that names nothing: any status in it
	printf '.Sh EXIT STATUS\n.Bl -tag\n.It 1\\(en16\nA status.\n.El\n' > "$MAN/y.1"
	[ "$(required y)" = "1-16" ]
	printf '.Sh EXIT STATUS\n.Bl -tag\n.It Er EIO\n.El\n' > "$MAN/z.1"
	[[ "$(required z)" == "unparsed: .It Er EIO" ]]
}

@test "every documented exit status of every tool is reached by a test" {
	local page st missing= all
	all=$(tags)
	for page in $(pages); do
		for st in $(required "$page"); do
			case $st in
			*-*)	# some status of the range
				awk -v t="$page" -v lo="${st%-*}" -v hi="${st#*-}" \
				    '$1 == t && $2 >= lo && $2 <= hi { f = 1 }
				    END { exit !f }' <<< "$all" ||
				    missing="$missing
$page $st"
				;;
			*)
				grep -q "^$page $st " <<< "$all" ||
				    missing="$missing
$page $st"
				;;
			esac
		done
	done
	if [ -n "$missing" ]; then
		echo "no test carries '# exit-status: TOOL N' for:$missing"
		return 1
	fi
}

@test "every tag is in a test's body, names a page's status, and the test shows it" {
	local t page st where bad=
	t=$(tags)
	bad=$(grep -E '^(outside|malformed) ' <<< "$t" || true)
	while read -r page st where; do
		case $page in '' | outside | malformed) continue ;; esac
		if [ ! -f "$MAN/$page.1" ]; then
			bad="$bad
$where: no page man/$page.1"
		elif ! required "$page" documented | awk -v s="$st" '
		    $0 == s { f = 1 }
		    /-/ { split($0, r, "-"); if (s >= r[1] && s <= r[2]) f = 1 }
		    END { exit !f }'; then
			bad="$bad
$where: $page.1 does not document $st"
		fi
	done <<< "$t"
	while read -r where; do
		bad="$bad
$where (the test never mentions the status)"
	done < <(unchecked_tags)
	if [ -n "$bad" ]; then
		echo "bad exit-status tags:$bad"
		return 1
	fi
}
