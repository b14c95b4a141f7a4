#!/usr/bin/env bats
# The manual: lint-clean, agreeing with --help, and its examples run.

load helpers

MAN=$EVPIPE_SRCDIR/man
: "${MANDOC:=mandoc}"

# Every tool that is built has a page.
tools() {
	local f
	for f in "$EVPIPE_BUILDDIR"/bin/*; do
		[ -x "$f" ] && [ -f "$f" ] && basename "$f"
	done
}

# The rendered SYNOPSIS of a page, one line, spaces squeezed.
man_synopsis() {
	"$MANDOC" -Tascii "$MAN/$1.1" | sed 's/.\x08//g' |
	    sed -n '/^SYNOPSIS$/,/^[A-Z]/p' | sed '1d;$d' |
	    tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}

# Option names a page documents (.It Fl x, .It Fl \-long), sorted.
man_options() {
	sed -n 's/^\.It Fl //p' "$MAN/$1.1" | tr ',' '\n' |
	    sed -n 's/^ *\(Fl \)\{0,1\}\(\\-[a-z0-9_-]*\|[a-zA-Z]\)\( .*\)\{0,1\}$/\2/p' |
	    sed 's/^\\-/--/; s/^\([a-zA-Z]\)$/-\1/' | sort
}

# Option names --help lists, sorted.
help_options() {
	"$1" --help | sed -n 's/^  *\(-[a-zA-Z], \)\{0,1\}\(--[a-z0-9_-]*\).*/\1\2/p' |
	    tr ',' '\n' | sed 's/^ *//; s/[= ].*//' | sed '/^$/d' | sort
}

@test "mandoc -Tlint finds nothing to warn about" {
	run "$MANDOC" -Tlint -Wwarning "$MAN"/*.1 "$MAN"/*.7
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "every tool has a page, and --help shows its SYNOPSIS" {
	for t in $(tools); do
		[ -f "$MAN/$t.1" ]
		want="usage: $(man_synopsis "$t")"
		got=$("$t" --help | head -1)
		echo "$t: man: $want"
		echo "$t: help: $got"
		[ "$got" = "$want" ]
	done
}

@test "--help and the page list the same options" {
	for t in $(tools); do
		diff -u <(man_options "$t") <(help_options "$t")
		[ -n "$(man_options "$t")" ]
	done
}

@test "the EXAMPLES run and print what the pages say" {
	run "$PYTHON3" "$EVPIPE_SRCDIR/tests/man-examples" "$DATA/man" \
	    "$MAN"/*.1 "$MAN"/*.7
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != "0 examples"* ]]
}

@test "groff, as Debian's man renders them, finds nothing to warn about" {
	command -v groff >/dev/null || skip "no groff"
	for p in "$MAN"/*.1 "$MAN"/*.7; do
		run groff -mandoc -Tutf8 -ww -z "$p"
		echo "$output"
		[ "$status" -eq 0 ] && [ -z "$output" ]
	done
}

@test "groff renders each line of a list as one line, not a column of words" {
	command -v groff >/dev/null || skip "no groff"
	# A table whose cells groff cannot lay out leaves lines of one
	# word far to the right; nothing we write looks like that.
	for p in "$MAN"/*.1 "$MAN"/*.7; do
		run sh -c 'groff -mandoc -Tutf8 "$1" 2>/dev/null |
		    sed "s/.\x08//g" | grep -E "^ {40,}[^ ]+$"' sh "$p"
		echo "$p: $output"
		[ "$status" -ne 0 ]
	done
}

@test "every page says which evpipe it documents" {
	version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
	    "$EVPIPE_BUILDDIR/config.h")
	[ -n "$version" ]
	for p in "$MAN"/*.1 "$MAN"/*.7; do
		echo "$p: $(sed -n '/^\.Os/p' "$p")"
		[ "$(sed -n '/^\.Os/p' "$p")" = ".Os evpipe $version" ]
		"$MANDOC" -Tascii "$p" | tail -1 | grep -q "^evpipe $version "
	done
}

@test "the files the EXAMPLES read are installed and named in FILES" {
	examples=/usr/local/share/evpipe/examples
	for f in "$DATA"/man/*; do
		grep -q "tests/data/man/${f##*/}" "$EVPIPE_SRCDIR/Makefile.am"
	done
	for p in "$MAN"/*.1 "$MAN"/*.7; do
		grep -q '^\$ ' <(sed -n '/^\.Sh EXAMPLES/,/^\.Sh [^E]/p' "$p") ||
		    continue
		files=$(sed -n '/^\.Sh FILES/,/^\.Sh /p' "$p")
		echo "$p"
		grep -qx "\.It Pa $examples" <<<"$files"
		for f in "$DATA"/man/*; do
			f=${f##*/}
			if sed -n '/^\.Sh EXAMPLES/,/^\.Sh [^E]/p' "$p" |
			    grep '^\$ ' | grep -qw -- "$f"; then
				echo "  $f"
				grep -qx "\.Pa $f.*" <<<"$files"
			fi
		done
	done
}
