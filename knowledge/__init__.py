"""The FAQ knowledge base: loading and validating the admins' YAML, and matching user questions.

- `normalize`: text folding and jieba segmentation (one shared tokenizer, warmed up before serving)
- `loader`: `load_knowledge(dir)` → `KnowledgeBase`, or `KnowledgeError` naming file:line
- `index`: `PhraseIndex`, the generic inverted index that scores phrases (also used for flow triggers)
- `matcher`: `Matcher`, which decides answer / clarify / fallback for a query
- `gcpause`: holds off full garbage collections while a reload builds, so replies never stall

The data files themselves (faq/*.yaml, synonyms.yaml, …) live next to this package.
This package does no network I/O and never imports `app/`.
"""
