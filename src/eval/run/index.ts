/** `declip eval run`: replay converted bags through DeclipNode, evaluate, aggregate and report. */
export * from './evalPipeline';
export * from './evaluator';
export * from './runner';
export * from './report';
export * from './nodePipeline';
export * from './nocsEval';
