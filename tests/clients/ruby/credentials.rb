# `ruby credentials.rb sdk|fog [prove]`: resolves AWS credentials the way Debian's Ruby
# packages do, and prints one JSON line on stdout:
# {"sdk":…,"version":…,"provider":…,"access_key_id":…,"secret_sha256":…,"token_sha256":…}.
# The secret key and session token appear only as SHA-256 hex digests.
#
# * sdk: the AWS SDK for Ruby (ruby-aws-sdk-core): an `Aws::STS::Client` built with no
#   credentials resolves them through `Aws::CredentialProviderChain`, the default chain of
#   every client; `client.config.credentials` is what it found.
# * fog: fog-aws (ruby-fog-aws, a third-party library): `Fog::AWS::STS.new(use_iam_profile:
#   true)` fetches them with `Fog::AWS::CredentialFetcher` (the container endpoint, else
#   instance metadata), as every fog-aws service does with `use_iam_profile`.
#
# With `prove`, GetCallerIdentity is signed with them and sent to AWS_ENDPOINT_URL_STS, which
# must be a loopback http(s) URL (this program never calls real AWS): by the SDK's own
# `get_caller_identity`, or, as fog-aws has no GetCallerIdentity request, by fog's own STS
# service request (its SigV4 signer, session token included). The JSON then gains
# "caller":{"arn":…,"account":…,"user_id":…}.
#
# Errors go to stderr with exit status 1 (2 for a bad command line).

require 'digest'
require 'json'
require 'uri'

def sts_endpoint
  url = ENV.fetch('AWS_ENDPOINT_URL_STS', '')
  uri = URI.parse(url)
  host = uri.host.to_s
  unless %w[http https].include?(uri.scheme) && (host == 'localhost' || host.start_with?('127.'))
    raise ArgumentError, "AWS_ENDPOINT_URL_STS must be a loopback URL, not #{url.inspect}"
  end
  uri
end

def sha256(text)
  text.nil? || text.empty? ? nil : Digest::SHA256.hexdigest(text)
end

def text_of(xml, name)
  xml[%r{<#{name}>([^<]*)</#{name}>}, 1]
end

def sdk(prove)
  require 'aws-sdk-core'
  endpoint = prove ? sts_endpoint.to_s : nil
  options = { region: ENV.fetch('AWS_REGION', 'us-east-1') }
  options[:endpoint] = endpoint if endpoint
  client = Aws::STS::Client.new(options)
  provider = client.config.credentials
  raise 'no credentials found' if provider.nil? || !provider.set?

  credentials = provider.credentials
  result = {
    sdk: 'aws-sdk-core', version: Aws::CORE_GEM_VERSION, provider: provider.class.name,
    access_key_id: credentials.access_key_id,
    secret_sha256: sha256(credentials.secret_access_key),
    token_sha256: sha256(credentials.session_token)
  }
  if prove
    answer = client.get_caller_identity
    result[:caller] = { arn: answer.arn, account: answer.account, user_id: answer.user_id }
  end
  result
end

def fog(prove)
  require 'fog/aws'
  options = { use_iam_profile: true, region: ENV.fetch('AWS_REGION', 'us-east-1') }
  if prove
    uri = sts_endpoint
    options.merge!(host: uri.host, port: uri.port, scheme: uri.scheme, path: uri.path.empty? ? '/' : uri.path)
  end
  sts = Fog::AWS::STS.new(options)
  key = sts.instance_variable_get(:@aws_access_key_id)
  raise 'no credentials found' if key.nil? || key.empty?

  result = {
    sdk: 'fog-aws', version: Fog::AWS::VERSION, provider: 'Fog::AWS::CredentialFetcher',
    access_key_id: key,
    secret_sha256: sha256(sts.instance_variable_get(:@aws_secret_access_key)),
    token_sha256: sha256(sts.instance_variable_get(:@aws_session_token))
  }
  if prove
    # fog's STS service signs (SigV4, with the session token) and sends any Action.
    body = sts.send(:request, 'Action' => 'GetCallerIdentity').body
    result[:caller] = {
      arn: text_of(body, 'Arn'), account: text_of(body, 'Account'), user_id: text_of(body, 'UserId')
    }
  end
  result
end

mode = ARGV[0]
extra = ARGV[1..] || []
unless %w[sdk fog].include?(mode) && [[], ['prove']].include?(extra)
  warn 'usage: credentials.rb sdk|fog [prove]'
  exit 2
end
begin
  result = mode == 'sdk' ? sdk(!extra.empty?) : fog(!extra.empty?)
rescue StandardError, ScriptError => e
  warn "#{mode}: #{e.class}: #{e.message}"
  exit 1
end
puts JSON.generate(result)
