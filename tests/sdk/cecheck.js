// cecheck.js: every line on stdin must be one CloudEvent in the
// CloudEvents JSON format, as the CloudEvents JavaScript SDK reads it:
// structured-mode HTTP (application/cloudevents+json) and the
// CloudEvent constructor in strict mode, each validated.  Prints
// "N events" and exits 0, or names the first bad line and exits 1.
"use strict";
const { CloudEvent, HTTP } = require("cloudevents");

const text = require("fs").readFileSync(0, "utf8");
const lines = text.split("\n");
if (lines[lines.length - 1] === "") lines.pop();
let n = 0;
for (const [i, line] of lines.entries()) {
	try {
		const ev = HTTP.toEvent({
			headers: { "content-type": "application/cloudevents+json" },
			body: line,
		});
		ev.validate();
		new CloudEvent(JSON.parse(line), true).validate();
		n++;
	} catch (e) {
		const why = e.errors ? JSON.stringify(e.errors) : "";
		console.error(`line ${i + 1}: ${e.message} ${why}`.trim());
		console.error(line.slice(0, 300));
		process.exit(1);
	}
}
console.log(`${n} events`);
