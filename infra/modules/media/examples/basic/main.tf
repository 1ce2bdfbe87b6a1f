# The dev stage's media bucket: copies kept 30 days, the bucket deletable with its objects.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "media" {
  source        = "../.."
  stage         = "dev"
  expiry_days   = 30
  force_destroy = true
}

output "bucket" {
  description = "The bucket's name and ARN."
  value       = module.media.bucket
}
