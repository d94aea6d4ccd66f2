// Names in a Babel AST, for readers that resolve constants by name without following scopes: where each
// `const`/`let`/`var` is visible, which names are bound any other way (parameters, catch clauses,
// functions, classes, imports, destructuring), reassigned, or changed in place. A reader refuses a name
// that any of these may give another value than its one const, rather than guess which one a use sees.

/** The part of a Babel AST node this reader looks at. */
export interface AstNode {
  type: string;
  loc?: { start: { line: number } } | null;
  [key: string]: unknown;
}

export const wrappers = new Set([
  "TSAsExpression",
  "TSSatisfiesExpression",
  "TSNonNullExpression",
  "TSTypeAssertion",
  "TypeCastExpression",
  "ParenthesizedExpression",
]);

/** A `const`/`let`/`var NAME = …`, and the node whose range it is visible in. */
export interface Binding {
  init: AstNode | undefined;
  constant: boolean;
  scope: AstNode;
}

/** Nodes that hold the `const` and `let` declared directly in them. */
const blockTypes = new Set([
  "BlockStatement",
  "ForStatement",
  "ForInStatement",
  "ForOfStatement",
  "SwitchStatement",
  "CatchClause",
  "StaticBlock",
  "TSModuleBlock",
]);
/** Nodes that hold their parameters and `var`s. */
const functionTypes = new Set([
  "FunctionDeclaration",
  "FunctionExpression",
  "ArrowFunctionExpression",
  "ObjectMethod",
  "ClassMethod",
  "ClassPrivateMethod",
]);
/** Array methods that change the array. */
const mutators = new Set([
  "push",
  "pop",
  "shift",
  "unshift",
  "splice",
  "sort",
  "reverse",
  "fill",
  "copyWithin",
]);
/** Object./Reflect. functions that change their first argument. */
const objectMutators = new Set([
  "assign",
  "defineProperty",
  "defineProperties",
  "set",
  "setPrototypeOf",
  "deleteProperty",
]);

/** The identifiers a binding pattern binds (`a`, `{ a, b: [c] }`, `...d`, `e = 1`). */
function patternNames(pattern: AstNode | null | undefined): AstNode[] {
  const out: AstNode[] = [];
  const stack = pattern ? [pattern] : [];
  while (stack.length > 0) {
    const p = stack.pop()!;
    switch (p.type) {
      case "Identifier":
        out.push(p);
        break;
      case "AssignmentPattern":
        stack.push(p.left as AstNode);
        break;
      case "RestElement":
        stack.push(p.argument as AstNode);
        break;
      case "TSParameterProperty":
        stack.push(p.parameter as AstNode);
        break;
      case "ArrayPattern":
        for (const el of p.elements as (AstNode | null)[]) if (el) stack.push(el);
        break;
      case "ObjectPattern":
        for (const prop of p.properties as AstNode[])
          stack.push(prop.type === "RestElement" ? prop : (prop.value as AstNode));
        break;
    }
  }
  return out;
}

/** The identifier at the root of `a.b[c].d` (or `a` itself), when there is one. */
function memberRoot(node: AstNode): AstNode | undefined {
  let n = node;
  while (wrappers.has(n.type)) n = n.expression as AstNode;
  while (n.type === "MemberExpression" || n.type === "OptionalMemberExpression") {
    n = n.object as AstNode;
    while (wrappers.has(n.type)) n = n.expression as AstNode;
  }
  return n.type === "Identifier" ? n : undefined;
}

/** The name of `x.name` or `x["name"]`. */
function propertyName(member: AstNode): string | undefined {
  const p = member.property as AstNode;
  if (!member.computed && p.type === "Identifier") return p.name as string;
  if (p.type === "StringLiteral") return p.value as string;
  return undefined;
}

/** Whether `node` lies inside `scope`'s source range. */
export function encloses(scope: AstNode, node: AstNode): boolean {
  const [a, b] = [scope.start as number | undefined, scope.end as number | undefined];
  const [c, d] = [node.start as number | undefined, node.end as number | undefined];
  return a === undefined || b === undefined || c === undefined || d === undefined || (a <= c && d <= b);
}

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as AstNode).type === "string";
}

function children(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc" || key === "leadingComments" || key === "trailingComments" || key === "innerComments")
      continue;
    if (Array.isArray(value)) for (const v of value) if (isNode(v)) out.push(v);
    if (isNode(value)) out.push(value);
  }
  return out;
}

/** What {@link readNames} finds. */
export interface Names {
  /** Each name declared with const, let or var (an identifier alone), every declaration. */
  bindings: Map<string, Binding[]>;
  /** Names bound another way, with the first line and how. */
  otherwise: Map<string, { line?: number; how: string }>;
  /** Names assigned, updated or deleted. */
  reassigned: Set<string>;
  /** Names whose object or array is changed in place, with the first line. */
  mutated: Map<string, number | undefined>;
}

/** Walks `ast` once, reading its names; `visit` sees every node too. */
export function readNames(ast: AstNode, visit: (node: AstNode) => void): Names {
  const bindings = new Map<string, Binding[]>();
  const otherwise = new Map<string, { line?: number; how: string }>();
  const reassigned = new Set<string>();
  const mutated = new Map<string, number | undefined>();
  const line = (node: AstNode) => node.loc?.start.line;
  const bindOther = (pattern: AstNode | null | undefined, how: string): void => {
    for (const id of patternNames(pattern))
      if (!otherwise.has(id.name as string)) otherwise.set(id.name as string, { line: line(id), how });
  };
  const scopes: AstNode[] = [];
  const functionScope = () => {
    for (let k = scopes.length - 1; k >= 0; k--) if (functionTypes.has(scopes[k]!.type)) return scopes[k]!;
    return scopes[0]!;
  };
  const walk = (node: AstNode): void => {
    const opens = node.type === "Program" || blockTypes.has(node.type) || functionTypes.has(node.type);
    if (opens) scopes.push(node);
    if (node.type === "VariableDeclaration") {
      for (const d of (node.declarations as AstNode[]) ?? []) {
        const id = d.id as AstNode;
        if (id.type !== "Identifier") {
          bindOther(id, "a destructured name");
          continue;
        }
        const name = id.name as string;
        const binding: Binding = {
          init: (d.init as AstNode | null) ?? undefined,
          constant: node.kind === "const",
          scope: node.kind === "var" ? functionScope() : scopes[scopes.length - 1]!,
        };
        const same = bindings.get(name);
        if (same === undefined) bindings.set(name, [binding]);
        else same.push(binding);
      }
    }
    if (functionTypes.has(node.type)) {
      for (const param of (node.params as AstNode[]) ?? []) bindOther(param, "a parameter");
      if (node.type !== "FunctionDeclaration") bindOther(node.id as AstNode | null, "a function name");
    }
    if (node.type === "FunctionDeclaration") bindOther(node.id as AstNode | null, "a function name");
    if (node.type === "ClassDeclaration" || node.type === "ClassExpression")
      bindOther(node.id as AstNode | null, "a class name");
    if (node.type === "CatchClause") bindOther(node.param as AstNode | null, "a catch parameter");
    if (node.type === "TSEnumDeclaration") bindOther(node.id as AstNode, "an enum");
    if (
      node.type === "ImportSpecifier" ||
      node.type === "ImportDefaultSpecifier" ||
      node.type === "ImportNamespaceSpecifier"
    )
      bindOther(node.local as AstNode, "an import");
    if (node.type === "AssignmentExpression")
      for (const id of patternNames(node.left as AstNode)) reassigned.add(id.name as string);
    if (node.type === "UpdateExpression" || (node.type === "UnaryExpression" && node.operator === "delete")) {
      const target = node.argument as AstNode;
      if (target.type === "Identifier") reassigned.add(target.name as string);
    }
    if (
      (node.type === "ForInStatement" || node.type === "ForOfStatement") &&
      (node.left as AstNode).type !== "VariableDeclaration"
    )
      for (const id of patternNames(node.left as AstNode)) reassigned.add(id.name as string);
    // base.publicKeyHashes = …, delete base.x, PINS[0]++, PINS.push(…), Object.assign(base, …)
    const changes = (target: AstNode | undefined) => {
      const root = target === undefined ? undefined : memberRoot(target);
      if (root !== undefined && !mutated.has(root.name as string))
        mutated.set(root.name as string, line(root));
    };
    if (
      node.type === "AssignmentExpression" ||
      node.type === "UpdateExpression" ||
      node.type === "UnaryExpression"
    ) {
      const target = (node.type === "AssignmentExpression" ? node.left : node.argument) as AstNode;
      if (
        target.type === "MemberExpression" &&
        (node.type !== "UnaryExpression" || node.operator === "delete")
      )
        changes(target);
    }
    if (node.type === "CallExpression") {
      const callee = node.callee as AstNode;
      const method = callee.type === "MemberExpression" ? propertyName(callee) : undefined;
      if (method !== undefined && mutators.has(method)) changes(callee.object as AstNode);
      const owner = callee.type === "MemberExpression" ? (callee.object as AstNode) : undefined;
      if (
        owner?.type === "Identifier" &&
        (owner.name === "Object" || owner.name === "Reflect") &&
        method !== undefined &&
        objectMutators.has(method)
      )
        changes((node.arguments as AstNode[])[0]);
    }
    visit(node);
    for (const c of children(node)) walk(c);
    if (opens) scopes.pop();
  };
  walk(ast);
  return { bindings, otherwise, reassigned, mutated };
}
