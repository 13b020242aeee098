"""Testing utilities shipped with spanrun: a local OpenAI-compatible server
(:mod:`spanrun.testing.openai_server`) and pytest fixtures (:mod:`spanrun.testing.fixtures`)."""
