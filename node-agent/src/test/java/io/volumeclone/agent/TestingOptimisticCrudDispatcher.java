package io.volumeclone.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.volumeclone.api.testing.TestingApplyCrudDispatcher;
import java.util.Map;

/**
 * The CRUD mock with server-side apply of the status ({@link TestingApplyCrudDispatcher}) and the
 * API server's rule for replaces: one that carries a stale {@code metadata.resourceVersion} is
 * refused with 409 Conflict (tests that play the operator by replacing the status rely on it). The
 * stock mock skips that check for the status subresource.
 */
final class TestingOptimisticCrudDispatcher extends TestingApplyCrudDispatcher {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Override
  public synchronized MockResponse handleUpdate(RecordedRequest request) {
    String path = request.getPath();
    int query = path.indexOf('?');
    String bare = query < 0 ? path : path.substring(0, query);
    String objectPath = bare.endsWith("/status") ? bare.substring(0, bare.length() - 7) : bare;
    try {
      JsonNode body = JSON.readTree(request.getBody().getBytes());
      String requested = body.path("metadata").path("resourceVersion").asText("");
      Map.Entry<?, String> stored = findResource(getKey(objectPath));
      if (!requested.isEmpty() && stored != null) {
        String current =
            JSON.readTree(stored.getValue()).path("metadata").path("resourceVersion").asText("");
        if (!requested.equals(current)) {
          return new MockResponse()
              .setResponseCode(409)
              .setBody(
                  "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
                      + "\"Conflict\",\"code\":409,\"message\":\"Operation cannot be fulfilled:"
                      + " the object has been modified (resourceVersion "
                      + requested
                      + " is stale, current is "
                      + current
                      + ")\"}");
        }
      }
    } catch (Exception e) {
      return new MockResponse().setResponseCode(400).setBody(String.valueOf(e.getMessage()));
    }
    return super.handleUpdate(request);
  }

  private volatile boolean refuseLists;

  /** Lists of VolumeClones (what an informer starts with) are refused with 403 Forbidden. */
  void refuseLists(boolean refuse) {
    this.refuseLists = refuse;
  }

  @Override
  public MockResponse handleGet(String path) {
    if (refuseLists && path.contains("/volumeclones?")) {
      return new MockResponse()
          .setResponseCode(403)
          .setBody(
              "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
                  + "\"Forbidden\",\"code\":403,\"message\":\"volumeclones is forbidden (testing)\"}");
    }
    return super.handleGet(path);
  }

  @Override
  public synchronized MockResponse handlePatch(RecordedRequest request) {
    return super.handlePatch(request);
  }
}
