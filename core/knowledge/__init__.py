"""Shop knowledge: the plain-file format, retrieval, tools, grounding and the handoff policy.

Entry points: :func:`core.knowledge.loader.load_knowledge` (validate a folder),
:class:`core.knowledge.base.KnowledgeHolder` (load, reload all-or-nothing) and
:class:`core.knowledge.brain.KnowledgeBrain` (a :class:`core.answering.bot.BotBrain` for a shop).
The format is documented in docs/knowledge-format.md.
"""
