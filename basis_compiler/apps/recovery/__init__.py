"""Planted sparse vector recovery (`basis-compiler recover`): data samplings (`data`),
sum-of-squares spectral methods and the eigenvector head (`spectral`), the learned models on
generated layers (`models`), training (`training`), the grid's configuration and tasks
(`config`), its durable results file (`results`), the resumable, parallel runner (`grid`, with
`lifeline` so workers die with their driver and `progress`) and its tables and figure
(`report`). Imports flow one way: data <- config <- results, report <- grid."""
