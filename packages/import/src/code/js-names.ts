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

/** How many names in a row (`const B = A, C = B, …`) a use is followed through before it is refused. */
const maxAliases = 200;

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
  /**
   * The first use of `name` that keypin cannot tell leaves its array or object as declared, or undefined when
   * every use is a read: in the options of `initializeSslPinning` (or a literal or const that goes there), a
   * spread, `for … of`, or a member read (`.length`, `[0]`) of members that are strings, numbers or booleans
   * (`primitive(name)` says whether they are), or a test, comparison or template. Anything else (a call's
   * argument, a method called on it, an alias, another object's property, a destructuring target, an export,
   * an optional call) may change it.
   */
  unsafeUse(name: string, primitive: (name: string) => boolean): Use | undefined;
}

/** A use that may change a const's array or object: its line, how, and the name it went through first. */
export interface Use {
  line?: number;
  how: string;
  via?: string;
}

/** Parents whose Identifier children are names, not uses of a value. */
function isNameOnly(parent: AstNode, id: AstNode): boolean {
  switch (parent.type) {
    case "VariableDeclarator":
      return parent.id === id;
    case "MemberExpression":
    case "OptionalMemberExpression":
      return parent.property === id && !parent.computed;
    case "ObjectProperty":
    case "ObjectMethod":
    case "ClassMethod":
    case "ClassPrivateMethod":
    case "ClassProperty":
    case "ClassAccessorProperty":
      return parent.key === id && !parent.computed;
    case "LabeledStatement":
    case "BreakStatement":
    case "ContinueStatement":
      return parent.label === id;
    case "ImportSpecifier":
    case "ImportDefaultSpecifier":
    case "ImportNamespaceSpecifier":
    case "MetaProperty":
      return true;
    case "ExportSpecifier":
      return parent.exported === id && parent.local !== id;
  }
  // Type positions (TypeScript, Flow) name types, not values.
  if (parent.type.startsWith("TS")) return !wrappers.has(parent.type);
  return /Type(Annotation|Alias|Identifier|Parameter|Property)|^(Declare|Interface|OpaqueType)/.test(
    parent.type,
  );
}

/** Positions where a value is only read: tested, compared, converted (no literal with methods gets here). */
function isReadPosition(parent: AstNode, node: AstNode): boolean {
  switch (parent.type) {
    case "BinaryExpression":
    case "TemplateLiteral":
    case "ExpressionStatement":
      return true;
    case "UnaryExpression":
      return parent.operator !== "delete";
    case "IfStatement":
    case "WhileStatement":
    case "DoWhileStatement":
    case "ForStatement":
    case "ConditionalExpression":
    case "SwitchCase":
      return parent.test === node;
    case "SwitchStatement":
      return parent.discriminant === node;
  }
  return false;
}

/** Whether a call's callee is initializeSslPinning (or x.initializeSslPinning). */
function isPinningCallee(callee: AstNode): boolean {
  let c = callee;
  while (wrappers.has(c.type)) c = c.expression as AstNode;
  if (c.type === "Identifier") return c.name === "initializeSslPinning";
  return (
    c.type === "MemberExpression" &&
    !c.computed &&
    (c.property as AstNode).type === "Identifier" &&
    (c.property as AstNode).name === "initializeSslPinning"
  );
}

/** Walks `ast` once, reading its names; `visit` sees every node too. */
export function readNames(ast: AstNode, visit: (node: AstNode) => void): Names {
  const bindings = new Map<string, Binding[]>();
  const otherwise = new Map<string, { line?: number; how: string }>();
  const reassigned = new Set<string>();
  const mutated = new Map<string, number | undefined>();
  const parents = new Map<AstNode, AstNode>();
  // A direct eval or a with statement may reach any name.
  let reachesAll: Use | undefined;
  const uses = new Map<string, AstNode[]>();
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
    if (
      reachesAll === undefined &&
      ((node.type === "CallExpression" &&
        (node.callee as AstNode).type === "Identifier" &&
        (node.callee as AstNode).name === "eval") ||
        node.type === "WithStatement")
    )
      reachesAll = {
        line: line(node),
        how: node.type === "WithStatement" ? "a with statement" : "a direct eval, which may change any name",
      };
    visit(node);
    for (const c of children(node)) {
      parents.set(c, node);
      if (c.type === "Identifier" && !isNameOnly(node, c)) {
        const same = uses.get(c.name as string);
        if (same === undefined) uses.set(c.name as string, [c]);
        else same.push(c);
      }
      walk(c);
    }
    if (opens) scopes.pop();
  };
  walk(ast);

  const decided = new Map<string, Use | null>();
  let depth = 0;
  let cutShort = 0;
  const unsafeUse = (name: string, primitive: (name: string) => boolean): Use | undefined => {
    const before = decided.get(name);
    if (before !== undefined) return before ?? undefined;
    if (reachesAll !== undefined) return reachesAll;
    if (depth >= maxAliases) {
      cutShort++; // the answer depends on where it was asked for, so it is not kept
      return { how: `given from name to name more than ${maxAliases} times` };
    }
    // A name met again while it is being decided flows into itself (a cycle its value reports); its other
    // uses decide it.
    decided.set(name, null);
    const cutBefore = cutShort;
    depth++;
    let found: Use | undefined;
    try {
      for (const use of uses.get(name) ?? []) {
        const how = escapes(use, primitive(name), primitive);
        if (how !== undefined) {
          found = typeof how === "string" ? { line: line(use), how } : how;
          break;
        }
      }
    } finally {
      depth--;
    }
    if (cutShort === cutBefore) decided.set(name, found ?? null);
    else decided.delete(name);
    return found;
  };
  /** How `node`'s value may be changed where it is used, or undefined when it is only read. */
  const escapes = (
    start: AstNode,
    primitiveMembers: boolean,
    primitive: (name: string) => boolean,
  ): string | Use | undefined => {
    let node = start;
    let members = primitiveMembers;
    for (;;) {
      let parent = parents.get(node);
      while (parent !== undefined && wrappers.has(parent.type) && parent.expression === node) {
        node = parent;
        parent = parents.get(node);
      }
      if (parent === undefined) return "outside any statement";
      if (isReadPosition(parent, node)) return undefined;
      switch (parent.type) {
        case "ArrayExpression":
          node = parent;
          members = false;
          continue;
        case "ObjectProperty": {
          const object = parents.get(parent);
          if (parent.value !== node) return "a computed key";
          if (object?.type !== "ObjectExpression") return "a destructuring target";
          if (
            (object.properties as AstNode[]).some(
              (p) => p.type !== "ObjectProperty" && p.type !== "SpreadElement",
            )
          )
            return "a property of an object with methods";
          node = object;
          members = false;
          continue;
        }
        case "SpreadElement": {
          // A spread copies the members: strings and the like cannot be changed through the copy.
          if (members) return undefined;
          const into = parents.get(parent);
          if (into?.type !== "ArrayExpression" && into?.type !== "ObjectExpression")
            return "spread into a call";
          node = into;
          members = false;
          continue;
        }
        case "ForOfStatement":
          return parent.right === node && members ? undefined : "iterated by for … of";
        case "VariableDeclarator": {
          const id = parent.id as AstNode;
          if (parent.init !== node || id.type !== "Identifier") return "destructured";
          const alias = unsafeUse(id.name as string, primitive);
          if (alias === undefined) return undefined;
          // The use that may change it, through the first name it is given to.
          return { line: alias.line ?? line(parent), how: alias.how, via: id.name as string };
        }
        case "CallExpression":
          if ((parent.arguments as AstNode[])[0] === node && isPinningCallee(parent.callee as AstNode))
            return undefined;
          return parent.callee === node ? "called" : "an argument of a call";
        case "MemberExpression":
        case "OptionalMemberExpression": {
          if (parent.object !== node) return "a computed property name";
          // A member read: the method called on it, the member assigned or deleted change the object.
          let member: AstNode = parent;
          let above = parents.get(member);
          while (above !== undefined && wrappers.has(above.type) && above.expression === member) {
            member = above;
            above = parents.get(member);
          }
          if (
            above !== undefined &&
            (((above.type === "CallExpression" || above.type === "OptionalCallExpression") &&
              above.callee === member) ||
              (above.type === "TaggedTemplateExpression" && above.tag === member))
          )
            return "a method called on it";
          if (
            above !== undefined &&
            ((above.type === "AssignmentExpression" && above.left === member) ||
              above.type === "UpdateExpression" ||
              (above.type === "UnaryExpression" && above.operator === "delete") ||
              ((above.type === "ForInStatement" || above.type === "ForOfStatement") &&
                above.left === member) ||
              above.type === "ArrayPattern" ||
              (above.type === "ObjectProperty" && parents.get(above)?.type === "ObjectPattern") ||
              above.type === "AssignmentPattern" ||
              above.type === "RestElement")
          )
            return "a member assigned";
          if (members) return undefined;
          node = parent;
          continue;
        }
        default:
          return describe(parent);
      }
    }
  };
  return { bindings, otherwise, reassigned, mutated, unsafeUse };
}

function describe(parent: AstNode): string {
  switch (parent.type) {
    case "OptionalCallExpression":
      return "an optional call";
    case "NewExpression":
      return "an argument of new";
    case "AssignmentExpression":
      return "assigned";
    case "ArrayPattern":
    case "ObjectPattern":
    case "AssignmentPattern":
    case "RestElement":
      return "a destructuring target";
    case "ExportSpecifier":
    case "ExportDefaultDeclaration":
      return "exported";
    case "ReturnStatement":
    case "ArrowFunctionExpression":
      return "returned";
    case "LogicalExpression":
    case "ConditionalExpression":
    case "SequenceExpression":
      return "the value of an expression";
  }
  return `in a ${parent.type}`;
}
