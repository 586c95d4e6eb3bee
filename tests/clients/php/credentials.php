<?php
// `php credentials.php chain [prove]`: resolves AWS credentials the way AsyncAws (Debian's
// php-async-aws-core, a third-party PHP SDK) does for every client it builds —
// `ChainProvider::createDefaultChain()`: configuration and environment, web identity, the
// shared ini files, the container endpoint, instance metadata — and prints one JSON line:
// {"sdk":"async-aws/core","version":…,"provider":…,"access_key_id":…,"secret_sha256":…,"token_sha256":…}.
// The secret key and session token appear only as SHA-256 hex digests. The providers' own log
// (why one found nothing) goes to stderr. Where AWS_EC2_METADATA_DISABLED is true (which
// AsyncAws ignores), the chain stops before instance metadata: see below.
//
// With `prove`, AsyncAws's own `StsClient::getCallerIdentity()` signs GetCallerIdentity with
// the same provider and sends it to AWS_ENDPOINT_URL_STS, which must be a loopback http(s)
// URL (this program never calls real AWS); the JSON then gains
// "caller":{"arn":…,"account":…,"user_id":…}.
//
// Errors go to stderr with exit status 1 (2 for a bad command line).

require_once 'AsyncAws/Core/autoload.php';

use AsyncAws\Core\Configuration;
use AsyncAws\Core\Credentials\ChainProvider;
use AsyncAws\Core\Credentials\ConfigurationProvider;
use AsyncAws\Core\Credentials\ContainerProvider;
use AsyncAws\Core\Credentials\IniFileProvider;
use AsyncAws\Core\Credentials\WebIdentityProvider;
use AsyncAws\Core\Sts\StsClient;
use Psr\Log\AbstractLogger;
use Symfony\Component\HttpClient\HttpClient;

final class StderrLogger extends AbstractLogger
{
    public function log($level, $message, array $context = []): void
    {
        $detail = isset($context['exception']) ? ': ' . $context['exception']->getMessage() : '';
        fwrite(STDERR, "async-aws {$level}: {$message}{$detail}\n");
    }
}

function sts_endpoint(): string
{
    $url = getenv('AWS_ENDPOINT_URL_STS') ?: '';
    $parts = parse_url($url);
    $host = $parts['host'] ?? '';
    $scheme = $parts['scheme'] ?? '';
    if (!in_array($scheme, ['http', 'https'], true) || !($host === 'localhost' || str_starts_with($host, '127.'))) {
        throw new InvalidArgumentException("AWS_ENDPOINT_URL_STS must be a loopback URL, not '{$url}'");
    }
    return $url;
}

function sha256(?string $text): ?string
{
    return ($text === null || $text === '') ? null : hash('sha256', $text);
}

$mode = $argv[1] ?? '';
$extra = array_slice($argv, 2);
if ($mode !== 'chain' || !($extra === [] || $extra === ['prove'])) {
    fwrite(STDERR, "usage: credentials.php chain [prove]\n");
    exit(2);
}
$prove = $extra === ['prove'];
try {
    $options = ['region' => getenv('AWS_REGION') ?: 'us-east-1'];
    if ($prove) {
        $options['endpoint'] = sts_endpoint();
    }
    $configuration = Configuration::create($options);
    $logger = new StderrLogger();
    if (strtolower((string) getenv('AWS_EC2_METADATA_DISABLED')) === 'true') {
        // AsyncAws ignores this variable: its chain always ends by asking 169.254.169.254.
        // Where the matrix sets it, nothing may go there, so this runs the same chain
        // (ChainProvider::createDefaultChain) without its last provider.
        $http = HttpClient::create();
        $provider = new ChainProvider([
            new ConfigurationProvider(),
            new WebIdentityProvider($logger, null, $http),
            new IniFileProvider($logger, null, $http),
            new ContainerProvider($http, $logger),
        ]);
    } else {
        $provider = ChainProvider::createDefaultChain(null, $logger);
    }
    $credentials = $provider->getCredentials($configuration);
    if ($credentials === null) {
        fwrite(STDERR, "async-aws: no credentials found\n");
        exit(1);
    }
    $result = [
        'sdk' => 'async-aws/core',
        'version' => null,
        'provider' => 'default chain',
        'access_key_id' => $credentials->getAccessKeyId(),
        'secret_sha256' => sha256($credentials->getSecretKey()),
        'token_sha256' => sha256($credentials->getSessionToken()),
    ];
    if ($prove) {
        $sts = new StsClient($configuration, $provider);
        $answer = $sts->getCallerIdentity();
        $result['caller'] = [
            'arn' => $answer->getArn(),
            'account' => $answer->getAccount(),
            'user_id' => $answer->getUserId(),
        ];
    }
} catch (Throwable $error) {
    fwrite(STDERR, 'async-aws: ' . get_class($error) . ': ' . $error->getMessage() . "\n");
    exit(1);
}
echo json_encode($result), "\n";
