// Drives berth's dashboard in Debian's chromium (headless, puppeteer-core) against a real
// profile: run by tests/integration/test_dashboard.py, which gives DASHBOARD_URL (with the
// token), DOCKER_HOST (the profile's socket), SHOT_DIR and HEAP_SECONDS. Containers are made
// with the real docker CLI. Prints one JSON line of measurements; exits non-zero on a failed
// check, naming it.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const puppeteer = require('puppeteer-core');

const url = process.env.DASHBOARD_URL;
const shots = process.env.SHOT_DIR;
const heapSeconds = Number(process.env.HEAP_SECONDS || 60);
const docker = process.env.DOCKER_CLI || '/usr/local/bin/docker';
const results = {};
let page = null;  // screenshot on failure

function sh(...args) {
  return execFileSync(docker, args, { encoding: 'utf8', timeout: 60000 }).trim();
}
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, timeoutMs, what) {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error('timed out after ' + timeoutMs + ' ms: ' + what);
    await sleep(50);
  }
}
function state(name) {
  try {
    return sh('inspect', '-f', '{{.State.Status}}', name);
  } catch (e) {
    return 'gone';
  }
}
async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
function httpGet(target) {
  return new Promise((resolve, reject) => {
    http.get(target, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
}
const row = (name) => 'tr[data-name="' + name + '"]';
// Clicks inside the page in one step: the table is redrawn on every refresh, so a handle found
// first may be detached by the time a separate click reaches it.
async function press(selector) {
  await page.waitForSelector(selector, { timeout: 5000 });
  await page.$eval(selector, (b) => b.click());
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('console', (m) => process.stderr.write('page console: ' + m.text() + '\n'));

    // 1. The token URL: exchanged for the cookie, and gone from the address bar.
    await page.goto(url, { waitUntil: 'load' });
    const origin = new URL(url).origin;
    check(page.url() === origin + '/', 'the token left the URL: ' + page.url());
    const cookies = await page.cookies();
    check(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === 'Strict',
      'one HttpOnly SameSite=Strict cookie: ' + JSON.stringify(cookies));
    results.paint = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { firstContentfulPaintMs: fcp && fcp.startTime, domContentLoadedMs: nav.domContentLoadedEventEnd,
        loadMs: nav.loadEventEnd, transferBytes: nav.transferSize };
    });
    await page.waitForFunction(() => document.getElementById('guest-state').textContent === 'Running',
      { timeout: 15000 });

    // 2. A container made with the docker CLI appears; its port link answers.
    sh('run', '-d', '--name', 'web', '-p', '127.0.0.1::80', 'bb', 'sh', '-c',
      'echo hello > /tmp/index.html; httpd -p 80 -h /tmp; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done');
    results.appearMs = await until(() => page.$(row('web') + '[data-state="running"]'), 5000, 'web listed');
    await page.waitForSelector(row('web') + ' a[data-port]', { timeout: 5000 });
    const href = await page.$eval(row('web') + ' a[data-port]', (a) => a.href);
    check(/^http:\/\/127\.0\.0\.1:\d+\/$/.test(href), 'port link ' + href);
    results.portLinkStatus = await httpGet(href);
    check(results.portLinkStatus === 200, 'the port link answers 200: ' + results.portLinkStatus);
    await page.waitForFunction((sel) => /kernel|relay/.test(document.querySelector(sel + ' .ports').textContent),
      { timeout: 5000 }, row('web'));
    results.portPath = await page.$eval(row('web') + ' .ports', (td) => td.textContent);

    // 3. CPU moves while the container burns CPU.
    await page.waitForFunction((sel) => {
      const v = document.querySelector(sel + ' .cpu-value');
      return v && v.dataset.cpu !== undefined;
    }, { timeout: 10000 }, row('web'));
    const cpuIdle = Number(await page.$eval(row('web') + ' .cpu-value', (v) => v.dataset.cpu));
    sh('exec', '-d', 'web', 'timeout', '15', 'sh', '-c', 'while :; do :; done');
    results.cpuRiseMs = await until(async () => Number(await page.$eval(row('web') + ' .cpu-value',
      (v) => v.dataset.cpu)) > 30, 10000, 'CPU above 30%');
    results.cpu = { idle: cpuIdle, busy: Number(await page.$eval(row('web') + ' .cpu-value', (v) => v.dataset.cpu)) };
    results.shots = [await shot(page, '1-containers')];

    // 4. A log line printed after the page opened shows up.
    await press(row('web') + ' button[data-action="logs"]');
    await page.waitForFunction(() => /tick/.test(document.getElementById('log-lines').textContent), { timeout: 5000 });
    const marker = 'marker-' + Date.now();
    sh('exec', 'web', 'sh', '-c', 'echo ' + marker + ' > /proc/1/fd/1');
    results.logLineMs = await until(() => page.evaluate((m) =>
      document.getElementById('log-lines').textContent.includes(m), marker), 5000, 'the log line');
    // Pause holds new lines back; Follow shows them.
    await page.click('#logs-follow');
    const marker2 = 'paused-' + Date.now();
    sh('exec', 'web', 'sh', '-c', 'echo ' + marker2 + ' > /proc/1/fd/1');
    await sleep(1500);
    check(!(await page.evaluate((m) => document.getElementById('log-lines').textContent.includes(m), marker2)),
      'paused logs do not move');
    await page.click('#logs-follow');
    check(await page.evaluate((m) => document.getElementById('log-lines').textContent.includes(m), marker2),
      'follow shows the held lines');
    results.shots.push(await shot(page, '2-logs'));
    await page.click('button[data-tab="events"]');
    await page.waitForFunction(() => /container start\s+web/.test(document.getElementById('events').textContent),
      { timeout: 5000 });
    results.shots.push(await shot(page, '3-events'));
    await page.click('button[data-tab="containers"]');

    // 5. A cross-site page (another port of 127.0.0.1: same site, so the Strict cookie goes
    // with it) posts a stop without the CSRF token: 403, and the container keeps running.
    const evil = http.createServer((req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end('<form id="f" method="POST" action="' + origin + '/api/do/containers/web/stop"></form>' +
        '<script>fetch("' + origin + '/api/do/containers/web/stop", {method: "POST", mode: "no-cors", credentials: "include"});' +
        'setTimeout(() => document.getElementById("f").submit(), 300);</script>');
    });
    await new Promise((r) => evil.listen(0, '127.0.0.1', r));
    const attacker = await browser.newPage();
    await attacker.goto('http://127.0.0.1:' + evil.address().port + '/');
    await attacker.waitForFunction((o) => location.origin === o, { timeout: 5000 }, origin);
    results.crossSiteAnswer = await attacker.evaluate(() => document.body.textContent);
    check(/forbidden/.test(results.crossSiteAnswer), 'the cross-site POST got 403: ' + results.crossSiteAnswer);
    await attacker.close();
    evil.close();
    check(state('web') === 'running', 'web still runs after the cross-site POST');

    // 6. Stop from the page: the docker CLI sees it exited.
    await press(row('web') + ' button[data-action="stop"]');
    results.stopMs = await until(() => state('web') === 'exited', 15000, 'web exited');
    check(sh('ps', '-a', '--filter', 'name=^web$', '--format', '{{.Status}}').startsWith('Exited'), 'docker ps says Exited');
    await page.waitForSelector(row('web') + '[data-state="exited"]', { timeout: 5000 });

    // 7. Remove asks first: dismissed, nothing happens; accepted, it is gone.
    const dialogs = [];
    let accept = false;
    page.on('dialog', (d) => { dialogs.push(d.message()); (accept ? d.accept() : d.dismiss()); });
    await press(row('web') + ' button[data-action="remove"]');
    await sleep(1000);
    check(dialogs.length === 1 && /Remove container web/.test(dialogs[0]), 'remove asked: ' + dialogs);
    check(state('web') === 'exited', 'a dismissed remove removes nothing');
    accept = true;
    await press(row('web') + ' button[data-action="remove"]');
    await until(() => state('web') === 'gone', 10000, 'web removed');
    await page.waitForFunction((sel) => !document.querySelector(sel), { timeout: 5000 }, row('web'));

    // 8. Memory with live updates: a chatty container's logs and stats stream for a while.
    sh('run', '-d', '--name', 'chatty', 'bb', 'sh', '-c', 'i=0; while true; do echo chatty line $i; i=$((i+1)); usleep 50000; done');
    await page.waitForSelector(row('chatty') + '[data-state="running"]', { timeout: 5000 });
    await press(row('chatty') + ' button[data-action="logs"]');
    const cdp = await page.target().createCDPSession();
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const m = await page.metrics();
      return { heapBytes: m.JSHeapUsedSize, nodes: m.Nodes, listeners: m.JSEventListeners };
    };
    await sleep(10000);  // the log view fills to its cap first
    const before = await heap();
    const samples = [before];
    const step = Math.max(5, heapSeconds / 6);
    for (let t = 0; t < heapSeconds; t += step) {
      await sleep(step * 1000);
      samples.push(await heap());
    }
    const after = samples[samples.length - 1];
    results.memory = { seconds: heapSeconds, before, after, growthBytes: after.heapBytes - before.heapBytes,
      samples: samples.map((s) => s.heapBytes) };
    sh('rm', '-f', 'chatty');

    // 9. Guest stop and start from the page, with the boot's progress shown.
    await page.evaluate(() => {
      window.__seen = [];
      const note = () => window.__seen.push(document.getElementById('guest-state').textContent + '|' +
        document.querySelector('#boot-box h3').textContent + '|' + document.getElementById('boot-progress').childElementCount);
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.click('#guest-stop');
    await page.waitForFunction(() => document.getElementById('guest-state').textContent === 'Stopped', { timeout: 60000 });
    check(!(await page.$('tr[data-id]')), 'no container rows while the guest is stopped');
    results.shots.push(await shot(page, '4-guest-stopped'));
    await page.click('#guest-start');
    await page.waitForFunction(() => document.getElementById('guest-state').textContent === 'Running', { timeout: 60000 });
    await page.waitForFunction(() => /guest up in/.test(document.getElementById('boot-progress').textContent), { timeout: 5000 });
    results.seenDuringBoot = [...new Set(await page.evaluate(() => window.__seen))];
    check(results.seenDuringBoot.some((s) => s.startsWith('Starting|Boot progress|')),
      'boot progress shown while starting: ' + results.seenDuringBoot.join(', '));
    results.shots.push(await shot(page, '5-guest-restarted'));
    check(consoleErrors.length === 0, 'no script errors: ' + consoleErrors.join('; '));
  } catch (e) {
    if (page) await shot(page, 'failure').catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(results));
}

main().catch((e) => {
  console.log(JSON.stringify(results));
  console.error(e.stack || String(e));
  process.exit(1);
});
