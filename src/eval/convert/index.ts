/** Dataset converters (`declip eval convert`): REAL275 / BOP (TOYL) -> scene bags + model set. */
export * from './format';
export * from './pickle';
export * from './bop';
export * from './real275';
