/** The offline runtime and tfjs, in a chunk of their own: loaded when « Hors ligne » is turned on. */
export { loadOfflineBundle, verifyBundleFile } from '@wildlens/offline-runtime';
export { decodePhoto, initBrowserBackend } from '@wildlens/offline-runtime/browser';
