export * from './questions.js';
export * from './likelihood.js';
export * from './regions.js';
export * from './conformal.js';
export * from './parameters.js';
export * from './posterior.js';
export * from './observation.js';
export * from './wording.js';
