"""tsukeku (付句): renga composition — prosody, corpus, PEFT fine-tuning, constrained decoding, serving."""

__version__ = "0.1.0"
