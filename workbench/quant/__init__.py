"""Quantizations compared on the user's own text: how far each file's next-token
distributions are from a reference file's (KL divergence, top-1 agreement, perplexity), the
measurement ``llama-perplexity --kl-divergence`` makes, run in the engine process.

- :mod:`workbench.quant.logits`: the numbers (numpy only, no llama.cpp);
- :mod:`workbench.quant.window`: one window of text scored inside the engine process;
- :mod:`workbench.quant.inputs`: the files (same vocabulary), the text, the window size;
- :mod:`workbench.quant.compare`: the job (windows, the reference's cache, progress, stop);
- :mod:`workbench.quant.results`: its progress and per-file rows;
- :mod:`workbench.quant.family`: which library files are quantizations of one model.
"""
