# Corpus -> vocabulary -> BOWS store. Synthetic corpora skip tokenization and make the same layout.
# Reads: the corpus files (text corpora), tokenized once into tokens.zarr;
# writes: results/bows/{corpus}/{tokens.zarr, vocab.tsv, corpus_stats.json, bows.zarr}.


rule count_vocabulary:
    """Tokenize a text corpus into its token store, count its words and choose its vocabulary (the V most frequent candidates after the always-included words); corpus statistics beside it."""
    input:
        corpus=get_corpus_files,
    output:
        tokens=directory("results/bows/{corpus}/tokens.zarr"),
        vocab="results/bows/{corpus}/vocab.tsv",
        stats="results/bows/{corpus}/corpus_stats.json",
    log:
        "results/logs/count_vocabulary/{corpus}.log",
    benchmark:
        "results/benchmarks/count_vocabulary/{corpus}.tsv"
    wildcard_constraints:
        corpus=name_pattern(TEXT_CORPORA),
    conda:
        "../envs/bows.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        name="{corpus}",
        # only what the vocabulary depends on: a window change does not re-count
        part=lambda wc: bowsflow_config.vocabulary_part(config, wc.corpus),
    script:
        "../workflow_scripts/count_vocabulary.py"


rule build_bows:
    """Stream a text corpus' tokens into its BOWS store: one bool row per window over the vocabulary, with the train/val split and each window's document and start."""
    input:
        tokens="results/bows/{corpus}/tokens.zarr",
        vocab="results/bows/{corpus}/vocab.tsv",
        stats="results/bows/{corpus}/corpus_stats.json",
    output:
        store=directory("results/bows/{corpus}/bows.zarr"),
    log:
        "results/logs/build_bows/{corpus}.log",
    benchmark:
        "results/benchmarks/build_bows/{corpus}.tsv"
    wildcard_constraints:
        corpus=name_pattern(TEXT_CORPORA),
    conda:
        "../envs/bows.yaml"
    threads: 2
    resources:
        mem_mb=bows_store_mem_mb,
        runtime=60,
    params:
        name="{corpus}",
        part=lambda wc: bowsflow_config.store_part(config, wc.corpus),
    script:
        "../workflow_scripts/build_bows.py"


rule synthetic_bows:
    """Generate a synthetic corpus (the BOWS paper's toy data) straight into a BOWS store of the same layout, and its vocabulary of feature names."""
    output:
        store=directory("results/bows/{corpus}/bows.zarr"),
        vocab="results/bows/{corpus}/vocab.tsv",
    log:
        "results/logs/synthetic_bows/{corpus}.log",
    benchmark:
        "results/benchmarks/synthetic_bows/{corpus}.tsv"
    wildcard_constraints:
        corpus=name_pattern(SYNTHETIC_CORPORA),
    conda:
        "../envs/bows.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        name="{corpus}",
        part=lambda wc: bowsflow_config.store_part(config, wc.corpus),
    script:
        "../workflow_scripts/synthetic_bows.py"
