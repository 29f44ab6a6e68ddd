import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A fresh OpenSSH private key made by ssh-keygen (ssh2 cannot parse about 1 in 256 of the ed25519
 * keys it generates itself, LAB.md), so keys in tests look like the ones users paste.
 */
export function generateSshKey(): { privateKey: string; publicKey: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-key-'));
  try {
    const file = path.join(dir, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nodefoundry-test', '-f', file]);
    return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(file + '.pub', 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
