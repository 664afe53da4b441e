export * from './species.js';
export * from './paths.js';
export * from './concurrency.js';
export * from './domains.js';
export * from './image-shape.js';
export * from './storage-reader.js';
export * from './sources.js';
export * from './dialogue/index.js';
