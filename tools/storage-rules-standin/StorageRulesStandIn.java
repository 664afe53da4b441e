import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Offline stand-in for the Firebase Storage emulator's rules runtime (cloud-storage-rules-runtime
 * jar), exact or refusing: it only accepts a storage.rules that denies every client read and
 * write, and then answers every verification with permit=false. Any other ruleset is rejected
 * with an error so the emulator never serves rules this program cannot evaluate exactly.
 *
 * <p>Protocol (firebase-tools lib/emulator/storage/rules/runtime.js): newline-delimited JSON on
 * stdin/stdout; a first line with id -1 signals readiness; each request has id, action and
 * context; each reply echoes id, has status, errors and warnings arrays, and a result. stdout
 * carries protocol lines only.
 *
 * <p>Keep the deny-all recogniser identical to scripts/emulators/storage-rules-standin.ts.
 */
public final class StorageRulesStandIn {
  static final String NOT_DENY_ALL_MESSAGE =
      "Wildlens offline Storage rules stand-in: %s is not deny-all; the official rules runtime is"
          + " needed for these rules (run online once to cache it)";

  private final Set<String> denyAllRulesets = new HashSet<>();
  private final PrintStream out;

  StorageRulesStandIn(PrintStream out) {
    this.out = out;
  }

  public static void main(String[] args) throws IOException {
    // firebase-tools runs `java -Duser.language=en -jar <jar> serve`.
    if (args.length > 1 || (args.length == 1 && !args[0].equals("serve"))) {
      System.err.println("usage: java -jar storage-rules-standin.jar [serve]");
      System.exit(2);
    }
    // Raw stdout in UTF-8, flushed per line: firebase-tools parses each stdout chunk as one JSON.
    PrintStream out =
        new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
    System.setOut(new PrintStream(System.err, true, StandardCharsets.UTF_8));
    StorageRulesStandIn standIn = new StorageRulesStandIn(out);
    standIn.send(readyLine());
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      Map<String, Object> reply;
      try {
        reply = standIn.handle(line);
      } catch (RuntimeException e) {
        // Never die on one bad request: the emulator would lose its rules runtime.
        reply = errorReply(null, null, "internal error: " + e);
      }
      standIn.send(reply);
    }
  }

  static Map<String, Object> readyLine() {
    Map<String, Object> ready = new LinkedHashMap<>();
    ready.put("id", -1L);
    ready.put("status", "ok");
    ready.put("message", "Wildlens offline Storage rules stand-in ready (deny-all rules only)");
    ready.put("warnings", new ArrayList<>());
    ready.put("errors", new ArrayList<>());
    return ready;
  }

  void send(Map<String, Object> message) {
    out.print(Json.write(message) + "\n");
    out.flush();
  }

  Map<String, Object> handle(String line) {
    Object parsed;
    try {
      parsed = Json.parse(line);
    } catch (IllegalArgumentException e) {
      return errorReply(null, null, "malformed request (not JSON): " + e.getMessage());
    }
    if (!(parsed instanceof Map)) {
      return errorReply(null, null, "malformed request: expected a JSON object");
    }
    Map<?, ?> request = (Map<?, ?>) parsed;
    Object rawId = request.get("id");
    Long id = rawId instanceof Long ? (Long) rawId : null;
    Object action = request.get("action");
    if (id == null) {
      return errorReply(null, action, "malformed request: missing integer id");
    }
    if ("load_ruleset".equals(action)) {
      return loadRuleset(id, request.get("context"));
    }
    if ("verify".equals(action)) {
      return verify(id, request.get("context"));
    }
    return errorReply(id, action, "unsupported action: " + Json.write(action));
  }

  private Map<String, Object> loadRuleset(long id, Object context) {
    if (!(context instanceof Map)) {
      return errorReply(id, "load_ruleset", "load_ruleset: missing context");
    }
    Object rulesetName = ((Map<?, ?>) context).get("rulesetName");
    Object source = ((Map<?, ?>) context).get("source");
    if (!(rulesetName instanceof String) || !(source instanceof Map)) {
      return errorReply(id, "load_ruleset", "load_ruleset: context needs rulesetName and source");
    }
    Object files = ((Map<?, ?>) source).get("files");
    if (!(files instanceof List) || ((List<?>) files).size() != 1) {
      return errorReply(id, "load_ruleset", "load_ruleset: expected exactly one rules file");
    }
    Object file = ((List<?>) files).get(0);
    Object fileName = file instanceof Map ? ((Map<?, ?>) file).get("name") : null;
    Object content = file instanceof Map ? ((Map<?, ?>) file).get("content") : null;
    if (!(content instanceof String)) {
      return errorReply(id, "load_ruleset", "load_ruleset: rules file has no content");
    }
    Integer rulesVersion = DenyAllRules.rulesVersionIfDenyAll((String) content);
    if (rulesVersion == null) {
      String shownName = fileName instanceof String ? (String) fileName : "storage.rules";
      // A compile-style issue: firebase-tools logs it and keeps no ruleset for these rules.
      return reply(id, "ok", null, List.of(String.format(NOT_DENY_ALL_MESSAGE, shownName)));
    }
    denyAllRulesets.add((String) rulesetName);
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("rulesVersion", (long) rulesVersion);
    return reply(id, "ok", result, List.of());
  }

  private Map<String, Object> verify(long id, Object context) {
    Object rulesetName = context instanceof Map ? ((Map<?, ?>) context).get("rulesetName") : null;
    if (!(rulesetName instanceof String) || !denyAllRulesets.contains(rulesetName)) {
      return errorReply(
          id, "verify", "verify: ruleset " + Json.write(rulesetName) + " was not loaded");
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("permit", Boolean.FALSE);
    return reply(id, "ok", result, List.of());
  }

  private static Map<String, Object> reply(
      Long id, String status, Map<String, Object> result, List<String> errors) {
    Map<String, Object> reply = new LinkedHashMap<>();
    reply.put("id", id);
    reply.put("status", status);
    if (result != null) {
      reply.put("result", result);
    }
    reply.put("warnings", new ArrayList<>());
    reply.put("errors", new ArrayList<>(errors));
    return reply;
  }

  /**
   * Protocol-level error. "action" is echoed because firebase-tools drops (and never answers)
   * non-ok replies that lack it, which would leave its request pending forever.
   */
  static Map<String, Object> errorReply(Long id, Object action, String message) {
    String full = "Wildlens offline Storage rules stand-in: " + message;
    Map<String, Object> reply = new LinkedHashMap<>();
    reply.put("id", id);
    reply.put("status", "error");
    reply.put("action", action instanceof String ? action : "unknown");
    reply.put("message", full);
    reply.put("warnings", new ArrayList<>());
    List<Object> errors = new ArrayList<>();
    errors.add(full);
    reply.put("errors", errors);
    return reply;
  }

  /** Recognises the one ruleset this stand-in can evaluate exactly: deny every client access. */
  static final class DenyAllRules {
    private static final Set<String> RESERVED =
        Set.of(
            "allow", "match", "service", "if", "true", "false", "null", "function", "return",
            "let", "in", "is", "rules_version");

    private DenyAllRules() {}

    /** Returns 2 (or 1 when rules_version is absent) for a deny-all source, else null. */
    static Integer rulesVersionIfDenyAll(String source) {
      List<String> tokens = tokenize(source);
      if (tokens == null) {
        return null;
      }
      Cursor c = new Cursor(tokens);
      int version = 1;
      if (c.accept("rules_version")) {
        if (!(c.expect("=") && (c.accept("'2'") || c.accept("\"2\"")) && c.expect(";"))) {
          return null;
        }
        version = 2;
      }
      boolean ok =
          c.expect("service") && c.expect("firebase") && c.expect(".") && c.expect("storage")
              && c.expect("{")
              && c.expect("match") && c.expect("/") && c.expect("b") && c.expect("/")
              && c.expect("{");
      if (!ok) {
        return null;
      }
      String bucketVariable = c.identifier();
      ok =
          bucketVariable != null
              && c.expect("}") && c.expect("/") && c.expect("o") && c.expect("{")
              && c.expect("match") && c.expect("/") && c.expect("{");
      if (!ok) {
        return null;
      }
      String pathVariable = c.identifier();
      ok =
          pathVariable != null
              && !pathVariable.equals(bucketVariable)
              && c.expect("=") && c.expect("*") && c.expect("*") && c.expect("}")
              && c.expect("{");
      if (!ok) {
        return null;
      }
      if (c.accept("allow")) {
        ok =
            c.expect("read") && c.expect(",") && c.expect("write") && c.expect(":")
                && c.expect("if") && c.expect("false") && c.expect(";");
        if (!ok) {
          return null;
        }
      }
      ok = c.expect("}") && c.expect("}") && c.expect("}") && c.atEnd();
      return ok ? version : null;
    }

    /**
     * Splits into words, quoted strings (kept with their quotes) and single punctuation
     * characters, dropping ASCII whitespace and comments. Whitespace never joins two words, and comment
     * markers inside strings stay string content. Null when a comment or string is unterminated.
     */
    static List<String> tokenize(String source) {
      List<String> tokens = new ArrayList<>();
      int i = 0;
      int n = source.length();
      while (i < n) {
        char ch = source.charAt(i);
        if (" \t\n\r\f\u000B".indexOf(ch) >= 0) {
          i++;
        } else if (source.startsWith("//", i)) {
          while (i < n && source.charAt(i) != '\n' && source.charAt(i) != '\r') {
            i++;
          }
        } else if (source.startsWith("/*", i)) {
          int end = source.indexOf("*/", i + 2);
          if (end < 0) {
            return null;
          }
          i = end + 2;
        } else if (ch == '\'' || ch == '"') {
          int j = i + 1;
          while (j < n && source.charAt(j) != ch) {
            j += source.charAt(j) == '\\' ? 2 : 1;
          }
          if (j >= n) {
            return null;
          }
          tokens.add(source.substring(i, j + 1));
          i = j + 1;
        } else if (isWordChar(ch)) {
          int j = i;
          while (j < n && isWordChar(source.charAt(j))) {
            j++;
          }
          tokens.add(source.substring(i, j));
          i = j;
        } else {
          tokens.add(String.valueOf(ch));
          i++;
        }
      }
      return tokens;
    }

    private static boolean isWordChar(char ch) {
      return (ch >= 'a' && ch <= 'z')
          || (ch >= 'A' && ch <= 'Z')
          || (ch >= '0' && ch <= '9')
          || ch == '_';
    }

    private static final class Cursor {
      private final List<String> tokens;
      private int position;

      Cursor(List<String> tokens) {
        this.tokens = tokens;
      }

      boolean accept(String token) {
        if (position < tokens.size() && tokens.get(position).equals(token)) {
          position++;
          return true;
        }
        return false;
      }

      /** Same as accept; names a token that is required rather than optional. */
      boolean expect(String token) {
        return accept(token);
      }

      String identifier() {
        if (position >= tokens.size()) {
          return null;
        }
        String token = tokens.get(position);
        char first = token.charAt(0);
        boolean startsLikeIdentifier =
            (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_';
        if (!startsLikeIdentifier || RESERVED.contains(token)) {
          return null;
        }
        position++;
        return token;
      }

      boolean atEnd() {
        return position == tokens.size();
      }
    }
  }

  /** Minimal JSON reader/writer: objects, arrays, strings, numbers, booleans, null. */
  static final class Json {
    private final String text;
    private int position;

    private Json(String text) {
      this.text = text;
    }

    /** Integral numbers become Long, others Double; objects keep key order. */
    static Object parse(String text) {
      Json reader = new Json(text);
      reader.skipWhitespace();
      Object value = reader.readValue(0);
      reader.skipWhitespace();
      if (reader.position != text.length()) {
        throw reader.error("trailing characters");
      }
      return value;
    }

    private Object readValue(int depth) {
      if (depth > 512) {
        throw error("nesting too deep");
      }
      if (position >= text.length()) {
        throw error("unexpected end of input");
      }
      char ch = text.charAt(position);
      switch (ch) {
        case '{':
          return readObject(depth);
        case '[':
          return readArray(depth);
        case '"':
          return readString();
        case 't':
          return readLiteral("true", Boolean.TRUE);
        case 'f':
          return readLiteral("false", Boolean.FALSE);
        case 'n':
          return readLiteral("null", null);
        default:
          if (ch == '-' || (ch >= '0' && ch <= '9')) {
            return readNumber();
          }
          throw error("unexpected character '" + ch + "'");
      }
    }

    private Map<String, Object> readObject(int depth) {
      Map<String, Object> object = new LinkedHashMap<>();
      position++;
      skipWhitespace();
      if (peek() == '}') {
        position++;
        return object;
      }
      while (true) {
        skipWhitespace();
        if (peek() != '"') {
          throw error("expected a string key");
        }
        String key = readString();
        skipWhitespace();
        if (peek() != ':') {
          throw error("expected ':'");
        }
        position++;
        skipWhitespace();
        object.put(key, readValue(depth + 1));
        skipWhitespace();
        char next = peek();
        position++;
        if (next == '}') {
          return object;
        }
        if (next != ',') {
          throw error("expected ',' or '}'");
        }
      }
    }

    private List<Object> readArray(int depth) {
      List<Object> array = new ArrayList<>();
      position++;
      skipWhitespace();
      if (peek() == ']') {
        position++;
        return array;
      }
      while (true) {
        skipWhitespace();
        array.add(readValue(depth + 1));
        skipWhitespace();
        char next = peek();
        position++;
        if (next == ']') {
          return array;
        }
        if (next != ',') {
          throw error("expected ',' or ']'");
        }
      }
    }

    private String readString() {
      StringBuilder value = new StringBuilder();
      position++;
      while (true) {
        if (position >= text.length()) {
          throw error("unterminated string");
        }
        char ch = text.charAt(position++);
        if (ch == '"') {
          return value.toString();
        }
        if (ch < 0x20) {
          throw error("control character in string");
        }
        if (ch != '\\') {
          value.append(ch);
          continue;
        }
        if (position >= text.length()) {
          throw error("unterminated escape");
        }
        char escape = text.charAt(position++);
        switch (escape) {
          case '"':
          case '\\':
          case '/':
            value.append(escape);
            break;
          case 'b':
            value.append('\b');
            break;
          case 'f':
            value.append('\f');
            break;
          case 'n':
            value.append('\n');
            break;
          case 'r':
            value.append('\r');
            break;
          case 't':
            value.append('\t');
            break;
          case 'u':
            if (position + 4 > text.length()) {
              throw error("short \\u escape");
            }
            try {
              value.append((char) Integer.parseInt(text.substring(position, position + 4), 16));
            } catch (NumberFormatException e) {
              throw error("bad \\u escape");
            }
            position += 4;
            break;
          default:
            throw error("bad escape '\\" + escape + "'");
        }
      }
    }

    private Object readLiteral(String literal, Object value) {
      if (!text.startsWith(literal, position)) {
        throw error("unexpected token");
      }
      position += literal.length();
      return value;
    }

    private Object readNumber() {
      int start = position;
      while (position < text.length() && "+-0123456789.eE".indexOf(text.charAt(position)) >= 0) {
        position++;
      }
      String number = text.substring(start, position);
      if (!number.matches("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) {
        throw error("bad number");
      }
      if (number.matches("-?[0-9]+") && number.length() < 19) {
        return Long.parseLong(number);
      }
      return Double.parseDouble(number);
    }

    private char peek() {
      if (position >= text.length()) {
        throw error("unexpected end of input");
      }
      return text.charAt(position);
    }

    private void skipWhitespace() {
      while (position < text.length() && " \t\r\n".indexOf(text.charAt(position)) >= 0) {
        position++;
      }
    }

    private IllegalArgumentException error(String message) {
      return new IllegalArgumentException(message + " at offset " + position);
    }

    static String write(Object value) {
      StringBuilder out = new StringBuilder();
      writeValue(out, value);
      return out.toString();
    }

    private static void writeValue(StringBuilder out, Object value) {
      if (value == null) {
        out.append("null");
      } else if (value instanceof String) {
        writeString(out, (String) value);
      } else if (value instanceof Boolean || value instanceof Long || value instanceof Integer) {
        out.append(value);
      } else if (value instanceof Double) {
        double number = (Double) value;
        out.append(Double.isFinite(number) ? Double.toString(number) : "null");
      } else if (value instanceof Map) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
          if (!first) {
            out.append(',');
          }
          first = false;
          writeString(out, String.valueOf(entry.getKey()));
          out.append(':');
          writeValue(out, entry.getValue());
        }
        out.append('}');
      } else if (value instanceof List) {
        out.append('[');
        boolean first = true;
        for (Object item : (List<?>) value) {
          if (!first) {
            out.append(',');
          }
          first = false;
          writeValue(out, item);
        }
        out.append(']');
      } else {
        writeString(out, value.toString());
      }
    }

    private static void writeString(StringBuilder out, String value) {
      out.append('"');
      for (int i = 0; i < value.length(); i++) {
        char ch = value.charAt(i);
        switch (ch) {
          case '"':
            out.append("\\\"");
            break;
          case '\\':
            out.append("\\\\");
            break;
          case '\n':
            out.append("\\n");
            break;
          case '\r':
            out.append("\\r");
            break;
          case '\t':
            out.append("\\t");
            break;
          default:
            if (ch < 0x20 || ch == '\u2028' || ch == '\u2029') {
              out.append(String.format("\\u%04x", (int) ch));
            } else {
              out.append(ch);
            }
        }
      }
      out.append('"');
    }
  }
}
