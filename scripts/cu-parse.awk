# SPDX-License-Identifier: Apache-2.0
# Parse `iscsi-test-cu -v` output into lines "RESULT Suite.Test" with RESULT
# one of pass, fail, skip (passed after printing [SKIPPED]) or incomplete
# (the run stopped inside that test).
function finish(res) {
	if (cur != "") {
		if (res == "pass" && skipped)
			res = "skip"
		print res, cur
	}
	cur = ""
	skipped = 0
}
/^Suite: / {
	if (cur != "")
		finish("fail")
	suite = substr($0, 8)
	sub(/[ \t\r]+$/, "", suite)
	next
}
/^  Test: / {
	if (cur != "")
		finish("fail")
	line = substr($0, 9)
	name = line
	sub(/ \.\.\..*$/, "", name)
	cur = suite "." name
	skipped = 0
	rest = line
	sub(/^[^ ]* \.\.\./, "", rest)
	$0 = rest
}
cur != "" && /\[SKIPPED\]/ { skipped = 1 }
cur != "" && /^passed/ { finish("pass"); next }
cur != "" && /^FAILED/ { finish("fail"); next }
/^Run Summary:/ { if (cur != "") finish("fail") }
END { if (cur != "") print "incomplete", cur }
