// Drives a container through dockerode (a real Node client) against DOCKER_HOST:
// version, create (stdin open), attach with stdin (hijacked), start, wait, logs, remove.
// Prints one JSON line with what it saw; the pytest side asserts on it.
'use strict';
const Docker = require('dockerode');
const { PassThrough } = require('stream');

const socketPath = process.env.DOCKER_HOST.replace(/^unix:\/\//, '');
const docker = new Docker({ socketPath });

async function main() {
  const version = await docker.version();
  const container = await docker.createContainer({
    Image: 'bb',
    Cmd: ['sh', '-c', 'read x; echo out:$x; echo err:$x >&2; exit 3'],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => { stdout += d; });
  err.on('data', (d) => { stderr += d; });
  container.modem.demuxStream(stream, out, err);
  const ended = new Promise((resolve) => stream.on('end', resolve));
  await container.start();
  stream.write('from-node\n');
  stream.end();
  const waited = await container.wait();
  await ended;
  const logs = (await container.logs({ stdout: true, stderr: true })).toString('latin1');
  await container.remove();
  let gone = false;
  try { await container.inspect(); } catch (e) { gone = e.statusCode === 404; }
  console.log(JSON.stringify({ version: version.Version, stdout, stderr, exit: waited.StatusCode, logs, gone }));
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
