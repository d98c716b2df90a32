"""The scenarios, one module each; every module has `NAME` and `async def run(ctx) -> ScenarioResult`."""
