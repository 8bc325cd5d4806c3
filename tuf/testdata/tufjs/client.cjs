// A TUF client built on tuf-js, the TUF implementation of npm and
// sigstore-js, for TestInteropTufJS: an implementation independent of
// go-tuf reads what patchtrust publishes.
//
//   node client.cjs ROOT METADATA_DIR METADATA_URL TARGETS_URL TARGET OUT
//
// It trusts ROOT (copied into METADATA_DIR as root.json unless one is
// there already), refreshes from METADATA_URL, looks TARGET up, downloads
// it to OUT and prints {"length": ..., "custom": ...} on stdout. Any failure
// is printed on stderr and exits 1.
'use strict';
const fs = require('fs');
const path = require('path');
const { Updater } = require('tuf-js');

async function main() {
  const [root, metadataDir, metadataBaseUrl, targetBaseUrl, target, out] = process.argv.slice(2);
  fs.mkdirSync(metadataDir, { recursive: true });
  const trusted = path.join(metadataDir, 'root.json');
  if (!fs.existsSync(trusted)) {
    fs.copyFileSync(root, trusted);
  }
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl,
    targetBaseUrl,
    targetDir: path.dirname(out),
    config: { fetchRetries: 0 },
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(target);
  if (!info) {
    throw new Error(`target ${target} not found`);
  }
  await updater.downloadTarget(info, out);
  process.stdout.write(JSON.stringify({ length: info.length, custom: info.custom }));
}

main().catch((err) => {
  process.stderr.write(`tuf-js: ${(err && err.stack) || err}\n`);
  process.exit(1);
});
