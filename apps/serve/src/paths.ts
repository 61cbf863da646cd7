/**
 * Server-side path inputs: a client names a configured root and a relative path inside it. The
 * path is rejected before touching the disk when it is absolute, has a NUL or a `..` segment;
 * after resolving symlinks (realpath) it must still lie inside the root's real path, so a link
 * that points outside is refused too.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { PathNotAllowedError, ServeError } from './errors';

export function resolveConfinedPath(roots: Record<string, string>, root: string, relPath: string): string {
  const base = roots[root];
  if (base === undefined || !Object.hasOwn(roots, root))
    throw new ServeError(
      400,
      `root '${root}' is not configured (have: ${Object.keys(roots).join(', ') || 'none'})`,
    );
  if (relPath === '' || relPath.includes('\0'))
    throw new ServeError(400, `path '${relPath}' is empty or has a NUL byte`);
  if (isAbsolute(relPath) || /^[A-Za-z]:/.test(relPath) || relPath.startsWith('\\'))
    throw new ServeError(400, `path '${relPath}' must be relative to root '${root}'`);
  if (relPath.split(/[\\/]+/).some((seg) => seg === '..'))
    throw new ServeError(400, `path '${relPath}' has a '..' segment (traversal is not allowed)`);
  let rootReal: string;
  try {
    rootReal = realpathSync(base);
  } catch {
    throw new ServeError(503, `root '${root}' is not available on this server`, 'root_unavailable');
  }
  let real: string;
  try {
    real = realpathSync(resolve(rootReal, relPath));
  } catch {
    throw new ServeError(404, `path '${relPath}' does not exist in root '${root}'`, 'not_found');
  }
  if (!real.startsWith(rootReal + sep))
    throw new PathNotAllowedError(relPath, `resolves outside root '${root}'`);
  if (!statSync(real).isFile()) throw new ServeError(400, `path '${relPath}' is not a regular file`);
  return real;
}
