"""Planted sparse vector recovery (`basis-compiler recover`): data samplings (`data`),
sum-of-squares spectral methods and the eigenvector head (`spectral`), the learned models on
generated layers (`models`), training (`training`), the resumable, parallel grid (`grid`) and
its tables and figure (`report`)."""
