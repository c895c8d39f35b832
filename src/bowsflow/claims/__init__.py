"""Evidence, not just numbers: each seed paper's headline claims as tests on a run.

``registry``  the Claim entry, the Evidence a metric returns, the one verdict rule
``stats``     seeded bootstrap and Welch intervals, permutation p-values
``run``       what the claims read (specs, stores, lens JSON) and which models they compare
``bows`` · ``polytope`` · ``degeneracy`` · ``bilinear``  the claims, one module per paper
``scorecard`` every claim on a run → claims.tsv / claims.json
"""
