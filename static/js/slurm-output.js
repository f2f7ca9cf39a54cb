// A Slurm job's output on its page, read by byte offset in bounded chunks: the file so far, then
// (while the job runs) what was appended, every few seconds. The page keeps at most MAX_CHARS,
// dropping the oldest text.
(function () {
  "use strict";
  const box = document.getElementById("job-output-box");
  const pre = document.getElementById("job-output");
  const status = document.getElementById("job-output-status");
  if (!box || !pre) return;
  const url = box.dataset.url;
  const MAX_CHARS = 256 * 1024;
  const EVERY_MS = 3000;
  const MAX_POLLS = 1200; // about an hour; reload the page to follow longer
  let running = box.dataset.running === "1";
  let offset = 0;
  let eof = true;
  let polls = 0;

  function append(text) {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let value = pre.textContent + text;
    if (value.length > MAX_CHARS) value = "…" + value.slice(value.length - MAX_CHARS);
    pre.textContent = value;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  async function read() {
    const query = "?offset=" + offset;
    try {
      const response = await fetch(url + query, {headers: {Accept: "application/json"}, credentials: "same-origin"});
      const body = await response.json();
      if (!response.ok) {
        status.textContent = body.detail || ("could not read the output (" + response.status + ")");
        return false;
      }
      if (body.note) status.textContent = body.note;
      append(body.text);
      offset = body.next_offset;
      eof = body.eof;
      running = body.running;
      return true;
    } catch (err) {
      status.textContent = "could not read the output: " + err;
      return false;
    }
  }

  async function loop() {
    const ok = await read();
    polls += 1;
    if (!ok || polls >= MAX_POLLS) return;
    if (!eof) setTimeout(loop, 0); // more is there already: read on
    else if (running) setTimeout(loop, EVERY_MS);
  }
  loop();
})();
