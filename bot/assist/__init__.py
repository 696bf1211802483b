"""The AI assist: a language model writes words around facts computed in code, never acting on
its own. `Model.structured` is the one call; each feature has its template fallback."""

from bot.assist.budget import ORG
from bot.assist.model import Model, ModelConfig
from bot.assist.prompts import PromptError, render

__all__ = ["ORG", "Model", "ModelConfig", "PromptError", "render"]
