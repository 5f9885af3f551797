"""Rules: the catalog's conditions compiled per terms version and evaluated by durable-rules."""

from engine.rules.compiler import CompiledRule, CompiledRuleset, compile_ruleset, evaluate
from engine.rules.decider import Decider, OracleDecider, oracle_decide

__all__ = [
    "CompiledRule",
    "CompiledRuleset",
    "Decider",
    "OracleDecider",
    "compile_ruleset",
    "evaluate",
    "oracle_decide",
]
