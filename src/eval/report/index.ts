/** Report builders: SVG plots and the report.html page. */
export * from './svg';
export * from './html';
