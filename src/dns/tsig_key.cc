#include "dns/tsig_key.h"

#include <vector>

#include "base/encoding.h"
#include "base/files.h"
#include "base/validate.h"
#include "dns/names.h"

namespace certfleet::dns {
namespace {

enum class TokenKind { kWord, kString, kLBrace, kRBrace, kSemicolon };

struct Token {
  TokenKind kind;
  std::string_view text;  // a view into the input: the secret is never copied into a token
  int line;
};

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

Error At(int line, const std::string& what) {
  return Malformed("TSIG key file, line " + std::to_string(line) + ": " + what);
}

// The subset of named.conf(5) lexical syntax a key file uses.
Result<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < text.size() && text[i + 1] == '/')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return At(line, "unterminated /* comment");
      for (size_t j = i; j < end; ++j) line += text[j] == '\n';
      i = end + 2;
    } else if (c == '"') {
      size_t end = i + 1;
      while (end < text.size() && text[end] != '"' && text[end] != '\n' && text[end] != '\\') {
        ++end;
      }
      if (end >= text.size() || text[end] != '"') {
        return At(line, "unterminated or multi-line quoted string (escapes are not allowed)");
      }
      out.push_back({TokenKind::kString, text.substr(i + 1, end - i - 1), line});
      i = end + 1;
    } else if (c == '{' || c == '}' || c == ';') {
      out.push_back({c == '{'   ? TokenKind::kLBrace
                     : c == '}' ? TokenKind::kRBrace
                                : TokenKind::kSemicolon,
                     text.substr(i, 1), line});
      ++i;
    } else if (IsWordChar(c)) {
      size_t end = i;
      while (end < text.size() && IsWordChar(text[end])) ++end;
      out.push_back({TokenKind::kWord, text.substr(i, end - i), line});
      i = end;
    } else {
      return At(line, "unexpected character");
    }
  }
  return out;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Result<TsigKey> Parse() {
    if (!Word("key")) return Fail("expected `key \"NAME\" { ... };`");
    const Token* name = Next();
    if (name == nullptr || (name->kind != TokenKind::kString && name->kind != TokenKind::kWord)) {
      return Fail("expected the key name after `key`");
    }
    if (!ValidateZoneName(name->text).ok()) {
      return At(name->line, "the key name must be a DNS name (letters, digits, '-', '.')");
    }
    if (!Kind(TokenKind::kLBrace)) return Fail("expected `{` after the key name");
    std::optional<TsigAlgorithm> algorithm;
    std::optional<SecretBytes> secret;
    while (true) {
      const Token* tok = Next();
      if (tok == nullptr) return Fail("missing `};` at the end of the key statement");
      if (tok->kind == TokenKind::kRBrace) break;
      if (tok->kind != TokenKind::kWord) return At(tok->line, "expected `algorithm` or `secret`");
      if (tok->text == "algorithm") {
        if (algorithm) return At(tok->line, "`algorithm` given twice");
        const Token* value = Next();
        if (value == nullptr || value->kind == TokenKind::kLBrace ||
            value->kind == TokenKind::kRBrace || value->kind == TokenKind::kSemicolon) {
          return At(tok->line, "`algorithm` needs a value");
        }
        CF_ASSIGN_OR_RETURN(algorithm, ParseAlgorithm(*value));
      } else if (tok->text == "secret") {
        if (secret) return At(tok->line, "`secret` given twice");
        const Token* value = Next();
        if (value == nullptr || value->kind != TokenKind::kString) {
          return At(tok->line, "`secret` needs a quoted base64 value");
        }
        CF_ASSIGN_OR_RETURN(secret, DecodeSecret(*value));
      } else {
        // Not quoted: a mangled file could put key material where a statement name belongs.
        return At(tok->line, "unknown statement in key (only `algorithm` and `secret` allowed)");
      }
      if (!Kind(TokenKind::kSemicolon)) return At(tok->line, "missing `;`");
    }
    if (!Kind(TokenKind::kSemicolon)) return Fail("missing `;` after `}`");
    if (pos_ != t_.size()) {
      return At(t_[pos_].line, "unexpected text after the key statement (one key per file)");
    }
    if (!algorithm) return At(name->line, "the key has no `algorithm`");
    if (!secret) return At(name->line, "the key has no `secret`");
    return TsigKey{CanonicalName(name->text), *algorithm, std::move(*secret)};
  }

 private:
  const Token* Next() { return pos_ < t_.size() ? &t_[pos_++] : nullptr; }
  bool Kind(TokenKind k) {
    const Token* tok = Next();
    return tok != nullptr && tok->kind == k;
  }
  bool Word(std::string_view w) {
    const Token* tok = Next();
    return tok != nullptr && tok->kind == TokenKind::kWord && tok->text == w;
  }
  Error Fail(const std::string& what) {
    int line = t_.empty() ? 1 : t_[pos_ == 0 ? 0 : pos_ - 1].line;
    return At(line, what);
  }

  static Result<TsigAlgorithm> ParseAlgorithm(const Token& tok) {
    std::string name = CanonicalName(tok.text);
    if (name == "hmac-sha256") return TsigAlgorithm::kHmacSha256;
    if (name == "hmac-sha512") return TsigAlgorithm::kHmacSha512;
    if (name == "hmac-sha384") {
      return Error(At(tok.line,
                      "algorithm hmac-sha384 is not supported (ldns cannot sign with it); "
                      "use hmac-sha256 (tsig-keygen -a hmac-sha256)"));
    }
    // Quoted only when it looks like an algorithm name, never anything that could be key material.
    std::string shown = name.size() <= 20 && name.rfind("hmac-", 0) == 0 && IsPrintableAscii(name)
                            ? " " + name
                            : "";
    return Error(At(tok.line, "algorithm" + shown +
                                  " is not supported; use hmac-sha256 or "
                                  "hmac-sha512"));
  }

  static Result<SecretBytes> DecodeSecret(const Token& tok) {
    Result<std::string> decoded = Base64Decode(tok.text);
    // Never echo the value: only say what is wrong with it.
    if (!decoded.ok()) return Error(At(tok.line, "`secret` is not valid base64"));
    SecretBytes key = SecretBytes::FromString(std::move(*decoded));
    if (key.size() < kMinTsigKeyBytes || key.size() > kMaxTsigKeyBytes) {
      return Error(At(tok.line, "`secret` decodes to " + std::to_string(key.size()) +
                                    " bytes; a TSIG key must have 16 to 128"));
    }
    return key;
  }

  const std::vector<Token>& t_;
  size_t pos_ = 0;
};

}  // namespace

std::string_view TsigAlgorithmName(TsigAlgorithm algorithm) {
  switch (algorithm) {
    case TsigAlgorithm::kHmacSha256:
      return "hmac-sha256";
    case TsigAlgorithm::kHmacSha512:
      return "hmac-sha512";
  }
  return "hmac-sha256";
}

Result<TsigKey> ParseBindKeyFile(std::string_view text) {
  if (text.size() > kMaxKeyFileBytes) {
    return TooLarge("TSIG key file is larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  CF_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  return Parser(tokens).Parse();
}

Result<TsigKey> ReadBindKeyFile(const std::string& path) {
  Result<SecretBytes> text = ReadSecretFile(path, kMaxKeyFileBytes);
  if (!text.ok()) {
    return Error(text.error().code(), "reading TSIG key file " + QuoteForMessage(path))
        .WithCause(std::move(text).error());
  }
  Result<TsigKey> key = ParseBindKeyFile(text->view());
  if (!key.ok()) {
    return Error(key.error().code(), "TSIG key file " + QuoteForMessage(path))
        .WithCause(std::move(key).error());
  }
  return key;
}

}  // namespace certfleet::dns
