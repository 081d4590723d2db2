"""Deployment helpers called by deploy.sh and cleanup.sh (`python -m infra.tools --help`).

Each module stands for one AWS-side concern: `stage_config` (.chalice/config.json
and the IAM policy, from Terraform outputs), `chalice_state` (what `chalice deploy`
recorded), `event_source` (the stream's event source mapping), `site` (the S3
website's objects), `leftovers` (what a failed chalice deploy left), `combined`
(`chalice package` output merged with infra/), `packaging` (Chalice's CLI with a
checked-hash .pyc of every module in the deployment package).
They use boto3's normal configuration, so AWS_ENDPOINT_URL points them at an
emulator the same way it points Chalice and Terraform.
"""
