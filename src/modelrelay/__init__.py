"""ModelRelay: approved model packages to serving, safely. Where each concept lives:

- routes and settings: ``config``; what starts the work (events, operator requests): ``events``
- artifact checks (streamed, hashed, no path tricks): ``artifact``
- the promotion's steps and their typed inputs/outputs: ``steps``; the state machine: ``statemachines/promotion.py``
- domain (knows nothing of Lambda): ``domain.ingest`` (drops), ``domain.prepare`` (the plan), ``domain.hub``
  (hub registry), ``domain.mme`` (MME key and TargetModel pointer), ``domain.rollout`` (endpoint rollouts),
  ``domain.outcome`` (what happened, undoing own writes)
- adapters (one per AWS service, each with its not-found handling): ``adapters.s3``, ``adapters.sagemaker``,
  ``adapters.alarms``, ``adapters.notify``, ``adapters.store`` (every DynamoDB record kind), ``adapters.clients``
- operator tools: ``ops``; errors and their stable reason codes: ``errors``
"""
