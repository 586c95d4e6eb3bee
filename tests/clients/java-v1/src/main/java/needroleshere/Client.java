package needroleshere;

import com.amazonaws.auth.AWSCredentials;
import com.amazonaws.auth.AWSCredentialsProvider;
import com.amazonaws.auth.AWSSessionCredentials;
import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicSessionCredentials;
import com.amazonaws.auth.DefaultAWSCredentialsProviderChain;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.securitytoken.AWSSecurityTokenService;
import com.amazonaws.services.securitytoken.AWSSecurityTokenServiceClientBuilder;
import com.amazonaws.services.securitytoken.model.GetCallerIdentityRequest;
import com.amazonaws.services.securitytoken.model.GetCallerIdentityResult;
import java.net.InetAddress;
import java.net.URI;

/**
 * {@code java-v1-client chain prove}: resolves AWS credentials the way a Java program using the
 * AWS SDK for Java 1.x does ({@code DefaultAWSCredentialsProviderChain}: environment, system
 * properties, web identity, the profile files, the container endpoint, IMDS), then proves them:
 * it signs STS GetCallerIdentity with them at the endpoint AWS_ENDPOINT_URL_STS names, which
 * must be a loopback http(s) URL (this program never calls real AWS), in AWS_REGION (default
 * us-east-1).
 *
 * <p>It prints one JSON line on stdout:
 * {"sdk":"aws-sdk-java-v1","provider":NAME,"access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}.
 * No secret is printed. Errors go to stderr with exit status 1 (2 for a bad command line).
 */
public final class Client {
  private Client() {}

  public static void main(String[] args) {
    if (args.length != 2 || !args[0].equals("chain") || !args[1].equals("prove")) {
      System.err.println("usage: java-v1-client chain prove");
      System.exit(2);
    }
    try {
      System.out.println(run());
    } catch (Exception e) {
      StringBuilder message = new StringBuilder("java-v1-client chain: ");
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
    DefaultAWSCredentialsProviderChain chain = new DefaultAWSCredentialsProviderChain();
    AWSCredentials credentials = chain.getCredentials();
    if (!(credentials instanceof AWSSessionCredentials session)) {
      throw new IllegalStateException("the chain found credentials without a session token");
    }
    // The provider that answered: the chain remembers it for its next refresh.
    String provider = lastUsed(chain);
    AWSCredentialsProvider fixed = new AWSStaticCredentialsProvider(new BasicSessionCredentials(
        session.getAWSAccessKeyId(), session.getAWSSecretKey(), session.getSessionToken()));
    AWSSecurityTokenService sts = AWSSecurityTokenServiceClientBuilder.standard()
        .withEndpointConfiguration(new EndpointConfiguration(endpoint.toString(), region))
        .withCredentials(fixed)
        .build();
    GetCallerIdentityResult answer;
    try {
      answer = sts.getCallerIdentity(new GetCallerIdentityRequest());
    } finally {
      sts.shutdown();
    }
    return "{\"sdk\":\"aws-sdk-java-v1\",\"provider\":" + quote(provider)
        + ",\"access_key_id\":" + quote(session.getAWSAccessKeyId())
        + ",\"caller\":{\"arn\":" + quote(answer.getArn())
        + ",\"account\":" + quote(answer.getAccount())
        + ",\"user_id\":" + quote(answer.getUserId()) + "}}";
  }

  /** The class of the chain's provider that answered, or "unknown". */
  private static String lastUsed(DefaultAWSCredentialsProviderChain chain) {
    try {
      var field = com.amazonaws.auth.AWSCredentialsProviderChain.class
          .getDeclaredField("lastUsedProvider");
      field.setAccessible(true);
      Object last = field.get(chain);
      return last == null ? "unknown" : last.getClass().getSimpleName();
    } catch (ReflectiveOperationException | RuntimeException e) {
      return "unknown";
    }
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
