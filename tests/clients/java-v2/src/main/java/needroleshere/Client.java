package needroleshere;

import java.net.InetAddress;
import java.net.URI;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.sts.StsClient;
import software.amazon.awssdk.services.sts.model.GetCallerIdentityResponse;

/**
 * {@code java-v2-client chain prove}: resolves AWS credentials the way a Java program using the
 * AWS SDK for Java 2.x does ({@code DefaultCredentialsProvider}: system properties, environment,
 * web identity, profile files with {@code credential_process}, the container endpoint, IMDS),
 * then proves them: it signs STS GetCallerIdentity with them at the endpoint
 * AWS_ENDPOINT_URL_STS names, which must be a loopback http(s) URL (this program never calls
 * real AWS), in AWS_REGION (default us-east-1).
 *
 * <p>It prints one JSON line on stdout:
 * {"sdk":"aws-sdk-java-v2","provider":NAME,"access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}.
 * No secret is printed. Errors go to stderr with exit status 1 (2 for a bad command line).
 */
public final class Client {
  private Client() {}

  public static void main(String[] args) {
    if (args.length != 2 || !args[0].equals("chain") || !args[1].equals("prove")) {
      System.err.println("usage: java-v2-client chain prove");
      System.exit(2);
    }
    try {
      System.out.println(run());
    } catch (Exception e) {
      StringBuilder message = new StringBuilder("java-v2-client chain: ");
      for (Throwable t = e; t != null; t = t.getCause()) {
        message.append(t == e ? "" : ": ").append(t.getClass().getSimpleName())
            .append(": ").append(t.getMessage());
      }
      System.err.println(message);
      System.exit(1);
    }
  }

  private static String run() throws Exception {
    URI endpoint = stsEndpoint();
    String region = System.getenv().getOrDefault("AWS_REGION", "us-east-1");
    AwsCredentials credentials;
    try (DefaultCredentialsProvider chain = DefaultCredentialsProvider.builder().build()) {
      credentials = chain.resolveCredentials();
    }
    GetCallerIdentityResponse answer;
    try (StsClient sts = StsClient.builder()
        .endpointOverride(endpoint)
        .region(Region.of(region))
        .credentialsProvider(StaticCredentialsProvider.create(credentials))
        .build()) {
      answer = sts.getCallerIdentity();
    }
    return "{\"sdk\":\"aws-sdk-java-v2\",\"provider\":"
        + quote(credentials.providerName().orElse("unknown"))
        + ",\"access_key_id\":" + quote(credentials.accessKeyId())
        + ",\"caller\":{\"arn\":" + quote(answer.arn())
        + ",\"account\":" + quote(answer.account())
        + ",\"user_id\":" + quote(answer.userId()) + "}}";
  }

  /** AWS_ENDPOINT_URL_STS, which must point at this machine's loopback. */
  private static URI stsEndpoint() throws Exception {
    String raw = System.getenv().getOrDefault("AWS_ENDPOINT_URL_STS", "");
    URI uri;
    try {
      uri = URI.create(raw);
    } catch (IllegalArgumentException e) {
      uri = null;
    }
    if (uri != null && ("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))
        && uri.getHost() != null) {
      String host = uri.getHost().replaceAll("^\\[|\\]$", "");
      boolean literal = host.matches("[0-9.]+") || host.contains(":");
      if (host.equals("localhost")
          || (literal && InetAddress.getByName(host).isLoopbackAddress())) {
        return uri;
      }
    }
    throw new IllegalArgumentException(
        "AWS_ENDPOINT_URL_STS must be a loopback URL, not " + quote(raw));
  }

  private static String quote(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
