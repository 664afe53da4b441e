/**
 * Which process listens on a TCP port (Linux: /proc/net/tcp{,6} socket inodes matched against
 * /proc/<pid>/fd; `ss` as a fallback), and whether a process is still alive. Used to reap an emulator JVM that outlived its suite
 * (firebase-tools starts the Firestore JVM in its own process group) and by the fault tests
 * that kill and restart an emulator.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Inodes of the sockets listening on `port` (IPv4 and IPv6 tables). */
function listeningSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const state = fields[3];
      const inode = fields[9];
      if (!local || !inode || state !== '0A' || inode === '0') continue;
      if (local.slice(local.lastIndexOf(':') + 1) === hexPort) inodes.add(inode);
    }
  }
  return inodes;
}

/** The process (pid) listening on the TCP `port`, or undefined when nothing listens. */
export function listeningPid(port: number): number | undefined {
  const inodes = listeningSocketInodes(port);
  if (inodes.size > 0) {
    const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${entry}/fd`);
      } catch {
        continue; // gone, or not ours to read
      }
      for (const fd of fds) {
        try {
          if (targets.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
        } catch {
          // fd closed meanwhile
        }
      }
    }
  }
  // Fallback (e.g. /proc/net hidden): ss, when installed.
  const ss = spawnSync('ss', ['-H', '-ltnp', `sport = :${port}`], { encoding: 'utf8' });
  const match = ss.status === 0 ? /pid=(\d+)/.exec(ss.stdout) : null;
  return match ? Number(match[1]) : undefined;
}

/** True while `pid` exists and is not a zombie (killed, not yet reaped by its parent). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
