export * from './species.js';
export * from './paths.js';
